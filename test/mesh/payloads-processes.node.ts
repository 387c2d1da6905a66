import '../fixtures/datachannel-cleanup.ts'
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { startMeshMember } from '../fixtures/mesh-member-process.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { MemberLine, MeshMemberProcess } from '../fixtures/mesh-member-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'

const MiB = 1024 * 1024

/** writes `size` random bytes to a new file; returns its path and SHA-256 */
async function randomFile (dir: string, size: number): Promise<{ path: string, sha256: string }> {
  const path = join(dir, `payload-${size}.bin`)
  const hash = createHash('sha256')
  const out = createWriteStream(path)

  for (let written = 0; written < size; written += 16 * MiB) {
    const chunk = randomBytes(Math.min(16 * MiB, size - written))
    hash.update(chunk)

    if (!out.write(chunk)) {
      await new Promise(resolve => out.once('drain', resolve))
    }
  }

  await new Promise<void>((resolve, reject) => { out.end((err?: Error | null) => { err == null ? resolve() : reject(err) }) })
  return { path, sha256: hash.digest('hex') }
}

async function received (member: MeshMemberProcess, timeout: number, since = 0): Promise<MemberLine> {
  const line = await member.waitFor(l => l.event === 'payload-received' || (l.event === 'error' && String(l.message).startsWith('payload')), timeout, since)

  if (line.event === 'error') {
    throw new Error(`${member.peerId.slice(-6)}: ${line.message}`)
  }

  return line
}

/** whether every member has a direct stream with every other */
async function allDirect (members: MeshMemberProcess[]): Promise<boolean> {
  const lists = await Promise.all(members.map(async m => m.members()))
  return lists.every(list => list.filter(m => m.state === 'direct').length === members.length - 1)
}

async function keys (n: number): Promise<Array<{ key: string, peerId: string }>> {
  return Promise.all(Array.from({ length: n }, async () => {
    const key = await generateKeyPair('Ed25519')
    return { key: Buffer.from(privateKeyToProtobuf(key)).toString('hex'), peerId: peerIdFromPrivateKey(key).toString() }
  }))
}

describe('mesh: large payloads between processes', function () {
  this.timeout(360_000)
  let relay: RelayProcess
  let members: MeshMemberProcess[] = []
  let dir: string

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
    dir = await mkdtemp(join(tmpdir(), 'relaymesh-payloads-'))
  })

  after(async () => {
    await relay?.stop('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  afterEach(async () => {
    members.forEach(m => { m.process.kill('SIGCONT') })
    await Promise.all(members.map(async m => m.stop()))
    members = []
  })

  it('256 MiB through a 3-member room, passed on by one member: equal at both, and no member\'s memory grows by the payload (the sender\'s beyond its own copy)', async () => {
    const [ka, kb, kc] = await keys(3)
    const file = await randomFile(dir, 256 * MiB)
    const room = 'payload-rss'
    // a and c cannot connect: b passes c's fetch on
    members = await Promise.all([
      startMeshMember({ relay: relay.wsAddr, room, key: ka.key, deny: [kc.peerId], payloads: true }),
      startMeshMember({ relay: relay.wsAddr, room, key: kb.key, payloads: true }),
      startMeshMember({ relay: relay.wsAddr, room, key: kc.key, deny: [ka.peerId], payloads: true })
    ])
    const [a, b, c] = members
    await pWaitFor(async () => {
      const [atA, atB, atC] = await Promise.all(members.map(async m => m.members()))
      return atA.some(m => m.peerId === kc.peerId) && atC.some(m => m.peerId === ka.peerId) &&
        atB.filter(m => m.state === 'direct').length === 2 && atA.some(m => m.peerId === kb.peerId && m.state === 'direct') && atC.some(m => m.peerId === kb.peerId && m.state === 'direct')
    }, { timeout: 60_000, interval: 250 })

    const before = await Promise.all(members.map(async m => m.rss()))
    const since = members.map(m => m.history.length)
    const started = Date.now()
    // from memory: Node frees the buffers of file-backed Blob reads late (see docs/api.md)
    const { loadedRss } = await a.sendFile(file.path, 'memory')
    before[0].rss = loadedRss!
    const [atB, atC] = await Promise.all([received(b, 300_000, since[1]), received(c, 300_000, since[2])])
    const seconds = (Date.now() - started) / 1000
    const after = await Promise.all(members.map(async m => m.rss()))

    expect(atB).to.include({ size: 256 * MiB, sha256: file.sha256, sender: ka.peerId })
    expect(atC).to.include({ size: 256 * MiB, sha256: file.sha256, sender: ka.peerId })
    const growth = after.map((rss, i) => Math.round((rss.peak - before[i].rss) / MiB))
    // eslint-disable-next-line no-console
    console.log(`      256 MiB to 2 members (one through the other) in ${seconds.toFixed(1)} s; RSS before ${before.map(r => Math.round(r.rss / MiB)).join('/')} MiB (the sender's with the payload read), peak growth ${growth.join('/')} MiB (sender/forwarder/receiver)`)
    growth.forEach((grown, i) => {
      expect(grown, `${['sender', 'forwarder and receiver', 'receiver'][i]} RSS grew by ${grown} MiB`).to.be.below(128)
    })
  })

  it('a member stopped (SIGSTOP) mid-transfer does not hold up another; once it runs again it gets the rest', async () => {
    const file = await randomFile(dir, 64 * MiB)
    const room = 'payload-stop'
    members = await Promise.all([0, 1, 2].map(async () => startMeshMember({ relay: relay.wsAddr, room, payloads: true })))
    const [a, b, c] = members
    await pWaitFor(async () => allDirect(members), { timeout: 60_000, interval: 250 })

    const since = members.map(m => m.history.length)
    // b and c both fetch as the message arrives; c stops after its first 8 MiB
    await a.sendFile(file.path)
    await c.waitFor(l => l.event === 'payload-progress', 120_000, since[2])
    c.process.kill('SIGSTOP')

    try {
      const atB = await received(b, 120_000, since[1])
      expect(atB).to.include({ size: 64 * MiB, sha256: file.sha256 })
      expect(c.history.slice(since[2]).some(l => l.event === 'payload-received'), 'c was stopped').to.be.false()
    } finally {
      c.process.kill('SIGCONT')
    }

    const atC = await received(c, 180_000, since[2])
    expect(atC).to.include({ size: 64 * MiB, sha256: file.sha256 })
  })
})
