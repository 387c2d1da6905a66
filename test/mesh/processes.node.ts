import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { startMeshMember } from '../fixtures/mesh-member-process.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { MeshMemberProcess } from '../fixtures/mesh-member-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'

/** whether every member process sees every other as `direct` */
async function fullMesh (members: MeshMemberProcess[]): Promise<boolean> {
  const views = await Promise.all(members.map(async member => member.members()))

  return views.every((view, i) => members.every((other, j) =>
    i === j || view.some(m => m.peerId === other.peerId && m.state === 'direct' && m.route === 'direct')))
}

async function describe3 (members: MeshMemberProcess[]): Promise<string> {
  const views = await Promise.all(members.map(async member => member.members()))
  return views.map((view, i) => `${i}: ${members.map((other, j) => i === j ? '-' : (view.find(m => m.peerId === other.peerId)?.state ?? '?')).join(' ')}`).join('\n')
}

describe('mesh: members in separate processes', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let members: MeshMemberProcess[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  afterEach(async () => {
    await Promise.all(members.map(async member => member.stop()))
    members = []
  })

  ;[3, 5].forEach(size => {
    it(`${size} member processes end up pairwise on direct WebRTC`, async () => {
      members = await Promise.all(Array.from({ length: size }, async () => startMeshMember({ relay: relay.wsAddr, room: `processes-${size}` })))

      try {
        await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })
      } catch {
        throw new Error(`mesh did not form:\n${await describe3(members)}`)
      }
    })
  })

  it('keeps the connection of a member that stops answering for a while: unreachable, then rejoined on it', async () => {
    const room = 'stop-and-continue'
    members = await Promise.all([0, 1, 2].map(async () => startMeshMember({ relay: relay.wsAddr, room })))
    const [a, b, victim] = members
    await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })
    const connectionsOf = async (observer: MeshMemberProcess): Promise<string[]> =>
      (await observer.members()).find(m => m.peerId === victim.peerId)?.connections ?? []
    // once the relayed connections that carried the signaling are closed
    let before: string[][] = []
    await pWaitFor(async () => {
      before = await Promise.all([a, b].map(connectionsOf))
      return before.every(ids => ids.length === 1)
    }, { timeout: 30_000, interval: 250 })

    const since = [a.history.length, b.history.length]
    victim.process.kill('SIGSTOP')

    try {
      await Promise.all([a, b].map(async (observer, i) =>
        observer.waitFor(line => line.event === 'member:unreachable' && line.peerId === victim.peerId, 30_000, since[i])))
    } finally {
      victim.process.kill('SIGCONT')
    }

    const rejoined = await Promise.all([a, b].map(async (observer, i) =>
      observer.waitFor(line => line.event === 'member:rejoined' && line.peerId === victim.peerId, 30_000, since[i])))
    rejoined.forEach(line => expect(line.route).to.equal('direct'))
    // the same WebRTC connection carries the room: nothing was closed or redialed
    const after = await Promise.all([a, b].map(connectionsOf))
    after.forEach((ids, i) => expect(ids).to.include(before[i][0]))
    expect(await fullMesh(members)).to.equal(true)
  })

  it('reports a SIGKILLed member unreachable, and rejoined when it restarts with its key', async () => {
    const key = await generateKeyPair('Ed25519')
    const victimId = peerIdFromPrivateKey(key).toString()
    const room = 'kill-and-restart'
    const [a, b] = members = await Promise.all([0, 1].map(async () => startMeshMember({ relay: relay.wsAddr, room })))
    let victim = await startMeshMember({ relay: relay.wsAddr, room, key })
    members.push(victim)
    await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })

    const since = [a.history.length, b.history.length]
    const killedAt = Date.now()
    await victim.kill()

    const unreachable = await Promise.all([a, b].map(async (observer, i) =>
      observer.waitFor(line => line.event === 'member:unreachable' && line.peerId === victimId, 30_000, since[i])))
    const detection = unreachable.map(line => Number(line.at) - killedAt)
    // eslint-disable-next-line no-console
    console.info('      detected after %s ms', detection.join(' / '))
    // libp2p alone takes 5-15 s (its connection monitor) or ~27 s (libdatachannel)
    detection.forEach(ms => expect(ms).to.be.below(5_000))

    const rejoinSince = [a.history.length, b.history.length]
    victim = await startMeshMember({ relay: relay.wsAddr, room, key })
    members[2] = victim
    expect(victim.peerId).to.equal(victimId)

    await Promise.all([a, b].map(async (observer, i) =>
      observer.waitFor(line => line.event === 'member:rejoined' && line.peerId === victimId, 60_000, rejoinSince[i])))
    await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })
  })
})
