import '../fixtures/datachannel-cleanup.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { LevelDatastore } from 'datastore-level'
import pWaitFor from 'p-wait-for'
import { decodeStoredRoomBatch } from '../../src/envelope/batch.ts'
import { startMeshMember } from '../fixtures/mesh-member-process.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { MemberLine, MeshMemberProcess } from '../fixtures/mesh-member-process.ts'
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

    try {
      await pWaitFor(async () => {
        before = await Promise.all([a, b].map(connectionsOf))
        return before.every(ids => ids.length === 1)
      }, { timeout: 30_000, interval: 250 })
    } catch (err: any) {
      const views = await Promise.all([a, b].map(async observer => (await observer.members()).find(m => m.peerId === victim.peerId)))
      const connections = await Promise.all([a, b, victim].map(async member => (await member.connections()).filter(c => [a, b, victim].some(m => m.peerId === c.peerId))))
      throw new Error(`${err.message}: connections to the victim ${JSON.stringify(before)}; views ${JSON.stringify(views)}; a's, b's and the victim's connections ${JSON.stringify(connections)}`)
    }

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

  it('drops a SIGKILLed member that signs nothing more after maxRecordAge: member:left expired, and no more dials', async () => {
    const key = await generateKeyPair('Ed25519')
    const victimId = peerIdFromPrivateKey(key).toString()
    const room = 'kill-and-expire'
    // short enough for a test; the observers refresh their own records well within it
    const mesh = { maxRecordAge: 12_000, recordRefreshInterval: 3_000 }
    const [a, b] = members = await Promise.all([0, 1].map(async () => startMeshMember({ relay: relay.wsAddr, room, mesh, verbose: true, env: { DEBUG: 'relaymesh:mesh:*' } })))
    const victim = await startMeshMember({ relay: relay.wsAddr, room, key, mesh })
    members.push(victim)
    await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })

    const since = [a.history.length, b.history.length]
    const killedAt = Date.now()
    await victim.kill()

    const left = await Promise.all([a, b].map(async (observer, i) =>
      observer.waitFor(line => line.event === 'member:left' && line.peerId === victimId, 60_000, since[i])))
    left.forEach(line => {
      expect(line.reason).to.equal('expired')
      expect(Number(line.at) - killedAt).to.be.at.most(12_000 + 10_000)
    })

    // gone from the list, and not dialed again
    const views = await Promise.all([a, b].map(async observer => observer.members()))
    views.forEach(view => expect(view.map(m => m.peerId)).to.not.include(victimId))
    // dials started (an attempt under way when the member expired may still
    // end, and log its failure, afterwards)
    const attempts = (): string[] => [a, b].flatMap(observer => observer.stderr().split('\n').filter(l => l.includes(`dialing ${victimId}`)))
    const after = attempts().length
    await new Promise(resolve => setTimeout(resolve, 8_000))
    expect(attempts().slice(after), 'dials after the member expired').to.deep.equal([])
  })

  it('a member SIGKILLed while the others send 1,000 messages, restarted with its key and datastore, ends with all of them, in order', async () => {
    const key = await generateKeyPair('Ed25519')
    const datastore = await mkdtemp(join(tmpdir(), 'relaymesh-member-'))
    const room = 'kill-while-sending'
    const [a, b] = members = await Promise.all([0, 1].map(async () => startMeshMember({ relay: relay.wsAddr, room })))
    const first = await startMeshMember({ relay: relay.wsAddr, room, key, datastore, messages: true })
    members.push(first)
    await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })

    // 500 each from a and b, in batches of 10 every 20 ms
    const sending = Promise.all([a.sendMany(500, 'a', 10, 20), b.sendMany(500, 'b', 10, 20)])
    const received = (member: MeshMemberProcess): MemberLine[] => member.history.filter(line => line.event === 'message')
    await pWaitFor(() => received(first).length >= 150, { timeout: 60_000, interval: 20 })
    await first.kill()
    const beforeKill = received(first)
    expect(beforeKill.length).to.be.below(1000)

    const second = await startMeshMember({ relay: relay.wsAddr, room, key, datastore, messages: true })
    members[2] = second
    await sending
    const idOf = (line: MemberLine): string => `${line.sender}/${line.epoch}/${line.seq}`
    const distinct = (): number => new Set([...beforeKill, ...received(second)].map(idOf)).size
    await pWaitFor(() => distinct() >= 1000, { timeout: 120_000, interval: 100 })
    // nothing more arrives
    await new Promise(resolve => setTimeout(resolve, 2000))

    // what was delivered but not yet recorded as delivered when the member
    // was killed is delivered again, marked replayed: nothing is lost
    const seen = new Set(beforeKill.map(idOf))
    const again = received(second).filter(line => seen.has(idOf(line)))
    // eslint-disable-next-line no-console
    console.info('      %d delivered before the kill, %d after the restart (%d of them again)', beforeKill.length, received(second).length, again.length)
    expect(again.every(line => line.replayed === true), 'a message delivered again is marked replayed').to.be.true()
    const all = [...beforeKill, ...received(second).filter(line => !seen.has(idOf(line)))]
    expect(all).to.have.lengthOf(1000)

    for (const [sender, prefix] of [[a.peerId, 'a'], [b.peerId, 'b']]) {
      const fromSender = all.filter(line => line.sender === sender)
      expect(fromSender.map(line => line.text)).to.deep.equal(Array.from({ length: 500 }, (_, i) => `${prefix}${i + 1}`))
      expect(fromSender.map(line => line.seq)).to.deep.equal(Array.from({ length: 500 }, (_, i) => i + 1))
    }

    expect(received(second).some(line => line.replayed === true), 'the restarted member got what it missed by replay').to.be.true()
    await rm(datastore, { recursive: true, force: true })
  })

  // the moments a crash can reuse a seq: once a batch is logged, before the
  // numbering is written (as it was before seqs were reserved), and right
  // after a seq reservation is written
  ;[['/log/', 3, 'right after its third log write'], ['/self', 2, 'right after its second seq reservation']].forEach(([write, n, when]) => {
    it(`a member killed ${when} never reuses a seq: its messages after the restart come after every seq it used, with no gap`, async () => {
      const key = await generateKeyPair('Ed25519')
      const victimId = peerIdFromPrivateKey(key).toString()
      const datastore = await mkdtemp(join(tmpdir(), 'relaymesh-member-'))
      const room = `crash-at-${String(write).replace(/\W/g, '')}`
      const a = await startMeshMember({ relay: relay.wsAddr, room, messages: true })
      members = [a]
      const victim = await startMeshMember({ relay: relay.wsAddr, room, key, datastore, env: { CRASH_AFTER_WRITE: `${write}:${n}` } })
      members.push(victim)
      await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })

      // it kills itself on the way
      victim.sendMany(3000, 'v', 64, 5).catch(() => {})
      await pWaitFor(() => victim.process.exitCode != null || victim.process.signalCode != null, { timeout: 60_000, interval: 20 })
      expect(victim.process.signalCode).to.equal('SIGKILL')

      // the seqs it had stored when it died
      const level = new LevelDatastore(datastore)
      await level.open()
      let highestStored = 0

      for await (const { key, value } of level.query({ prefix: '/relaymesh/rooms/' })) {
        if (key.toString().includes(`/log/${victimId}/`)) {
          const batch = decodeStoredRoomBatch(value)
          highestStored = Math.max(highestStored, batch.firstSeq + batch.messages.length - 1)
        }
      }

      await level.close()
      expect(highestStored).to.be.above(0)
      const fromVictim = (): MemberLine[] => a.history.filter(line => line.event === 'message' && line.sender === victimId)
      const restarted = await startMeshMember({ relay: relay.wsAddr, room, key, datastore })
      members[1] = restarted
      await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })
      await restarted.sendMany(5, 'after')
      await pWaitFor(() => fromVictim().some(line => line.text === 'after5'), { timeout: 30_000, interval: 50 })

      // what a got of the messages sent before the kill: in order, none twice
      const before = fromVictim().filter(line => String(line.text).startsWith('v'))
      expect(before.map(line => line.text)).to.deep.equal(Array.from({ length: before.length }, (_, i) => `v${i + 1}`))
      const after = fromVictim().filter(line => String(line.text).startsWith('after'))
      expect(after.map(line => line.text)).to.deep.equal(['after1', 'after2', 'after3', 'after4', 'after5'])
      const usedBefore = Math.max(highestStored, ...before.map(line => Number(line.seq)))
      // eslint-disable-next-line no-console
      console.info('      %d stored, %d received before the kill; after the restart from seq %d', highestStored, before.length, after[0].seq)
      after.forEach(line => expect(line.seq, `${String(line.text)} reuses a seq used before the crash`).to.be.above(usedBefore))
      expect(a.history.filter(line => line.event === 'gap'), 'gaps').to.be.empty()
      await rm(datastore, { recursive: true, force: true })
    })
  })

  it('a stuck member does not hold up the others, and gets what it missed when it moves again', async () => {
    const room = 'stuck-member'
    members = await Promise.all([0, 1, 2].map(async () => startMeshMember({ relay: relay.wsAddr, room, messages: true })))
    const [a, b, stuck] = members
    await pWaitFor(async () => fullMesh(members), { timeout: 60_000, interval: 250 })
    const from = (member: MeshMemberProcess, sender: string): MemberLine[] => member.history.filter(line => line.event === 'message' && line.sender === sender)

    stuck.process.kill('SIGSTOP')

    try {
      // more than a member's send queue holds (1024)
      await a.sendMany(1500, 'a', 50, 10)
      await pWaitFor(() => from(b, a.peerId).length === 1500, { timeout: 60_000, interval: 100 })
      expect(from(stuck, a.peerId).length).to.be.below(1500)
    } finally {
      stuck.process.kill('SIGCONT')
    }

    await pWaitFor(() => from(stuck, a.peerId).length === 1500, { timeout: 120_000, interval: 250 })
    expect(from(stuck, a.peerId).map(line => line.seq)).to.deep.equal(Array.from({ length: 1500 }, (_, i) => i + 1))
  })
})
