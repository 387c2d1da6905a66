import '../fixtures/datachannel-cleanup.ts'
import { createServer } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { decodeStoredRoomBatch, sealRoomBatch } from '../../src/envelope/batch.ts'
import { initialSeq, sealMemberRecord } from '../../src/envelope/index.ts'
import { Signer } from '../../src/envelope/keys.ts'
import { sealReplayRequest } from '../../src/envelope/message.ts'
import { LOWER_STREAM_TIMEOUT, MAX_LOWER_STREAMS, UNVERIFIED_RELAY_DIALS, maxFrameSize, resolveMeshInit } from '../../src/mesh/constants.ts'
import { MeshMessage } from '../../src/mesh/pb/mesh.ts'
import { ReplayFrame } from '../../src/mesh/pb/replay.ts'
import { isDirect } from '../../src/mesh/session.ts'
import { stopNodes, waitForCircuitAddress, waitForWebRTCAddress } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createMember, createPartitionable, impl, inbox, isolate, until, waitForFullMesh } from './fixtures.ts'
import type { MeshNode, Partitionable } from './fixtures.ts'
import type { SignedRoomMessage } from '../../src/envelope/batch.ts'
import type { MessageGap, RejectedMessage, Room, RoomMessage } from '../../src/index.ts'
import type { Heartbeat } from '../../src/mesh/pb/mesh.ts'
import type { Session } from '../../src/mesh/session.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import type { AddressInfo } from 'node:net'

/**
 * Hostile peers on the wire: an attacker that is a real libp2p node but
 * joins no room, and speaks the room and replay protocols by hand (its own
 * signed records, messages and replay requests, any heartbeat it likes).
 * Internal objects are only read (or wrapped to count calls), never driven.
 */

const ROOM_PROTOCOL = '/relaymesh/mesh/2.0.0'
const REPLAY_PROTOCOL = '/relaymesh/mesh-replay/2.0.0'
/** the victims' log bound: large enough for 350 sender-epochs, small enough to flood */
const MAX_LOG = 400
/** the default `maxMessageSize`, and the old frame limit */
const MAX_MESSAGE_SIZE = 16 * 1024

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const decode = (data: Uint8Array): string => new TextDecoder().decode(data)
const numbered = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`)

function texts (messages: RoomMessage[], sender: PeerId): string[] {
  return messages.filter(m => m.sender.equals(sender)).map(m => decode(m.data))
}

/** a room message signed by `key`, alone in its batch; `envelope` is the batch as sent */
type SealedMessage = SignedRoomMessage & { envelope: Uint8Array<ArrayBuffer> }

async function sealAs (key: PrivateKey, room: Room, epoch: number, seq: number, data: Uint8Array): Promise<SealedMessage> {
  const batch = await sealRoomBatch({ sender: peerIdFromPrivateKey(key), room: impl(room).id, epoch, firstSeq: seq, timestamp: Date.now(), data: [data] }, new Signer(key))
  return { ...batch.messages[0], envelope: batch.bytes }
}

/** a room stream the attacker opened by hand */
interface HostileSession {
  stream: Stream
  send(frame: Partial<MeshMessage>): Promise<void>
  heartbeat(fields?: Partial<Heartbeat>): Promise<void>
  close(): void
}

/** how a hand-made replay request went */
type ReplayOutcome =
  | { kind: 'refused', reason: string }
  | { kind: 'answered', held: number, messages: Uint8Array[] }
  | { kind: 'reset', error: string }

describe('mesh: hostile peers', function () {
  this.timeout(120_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []
  let attacker: MeshNode
  let attackerKey: PrivateKey
  let gated: Partitionable[]
  let a: MeshNode
  let b: MeshNode
  let c: MeshNode
  let d: MeshNode
  let rooms: Room[] = []
  let sessions: HostileSession[] = []
  let rejections: RejectedMessage[] = []
  /** nodes one test made for itself */
  let extra: MeshNode[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
    attackerKey = await generateKeyPair('Ed25519')
    ;[attacker, ...gated] = await Promise.all([
      createMember(relay.wsAddr, { privateKey: attackerKey }),
      ...[0, 1, 2, 3].map(async () => createPartitionable(relay.wsAddr, { mesh: { maxLogMessages: MAX_LOG } }))
    ])
    ;[a, b, c, d] = gated.map(g => g.node)
    nodes = [attacker, a, b, c, d]
    a.services.mesh.addEventListener('mesh:message-rejected', (evt) => { rejections.push(evt.detail) })
  })

  afterEach(async () => {
    sessions.forEach(session => { session.close() })
    sessions = []
    await Promise.allSettled(rooms.map(async room => room.leave()))
    rooms = []
    await stopNodes(extra)
    extra = []
    gated.forEach(g => { g.heal() })
    rejections = []
  })

  after(async () => {
    await stopNodes(nodes)
    await relay?.stop('SIGKILL')
  })

  /** `members` join `name` and wait until each pair is direct */
  async function join (name: string, members: MeshNode[] = [a, b, c]): Promise<Room[]> {
    const joined = await Promise.all(members.map(async node => node.services.mesh.join(name)))
    rooms.push(...joined)
    await waitForFullMesh(joined, members, 60_000)
    return joined
  }

  /** the attacker's (relayed) connection to `target` */
  async function connectionTo (target: MeshNode): Promise<Connection> {
    const open = attacker.getConnections(target.peerId).find(conn => conn.status === 'open')

    if (open != null) {
      return open
    }

    return attacker.dial(await waitForCircuitAddress(target), { signal: AbortSignal.timeout(10_000) })
  }

  /**
   * The attacker opens a room stream to `target` (on its relayed connection,
   * or `on`) with its own signed record (all an open room asks), reads
   * whatever comes back and beats often enough to stay a member with a
   * session.
   */
  async function hostileSession (room: Room, target: MeshNode, on?: Connection): Promise<HostileSession> {
    const connection = on ?? await connectionTo(target)
    const stream = await connection.newStream(ROOM_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
    const record = await sealMemberRecord({ room: room.name, seq: initialSeq() }, attackerKey)
    let seq = 0n
    const send = async (frame: Partial<MeshMessage>): Promise<void> => { await lp.write(MeshMessage.encode(frame)) }
    const heartbeat = async (fields: Partial<Heartbeat> = {}): Promise<void> => {
      await send({ heartbeat: { seq: ++seq, ack: 0n, ackDelay: 0, epoch: 0n, sent: 0n, held: 0, written: 0n, ...fields } })
    }

    await send({ record: record.envelope })
    const timer = setInterval(() => { heartbeat().catch(() => {}) }, 250)
    void (async () => {
      try {
        // what the victim writes (its record, heartbeats, gossip, messages) is read and dropped
        while (stream.status === 'open' && stream.readStatus === 'readable') {
          await lp.read()
        }
      } catch {
        // the stream ended
      } finally {
        clearInterval(timer)
      }
    })()

    const session: HostileSession = {
      stream,
      send,
      heartbeat,
      close: () => {
        clearInterval(timer)
        stream.abort(new Error('attack over'))
      }
    }
    sessions.push(session)
    const state = isDirect(connection) ? 'direct' : 'relayed'
    await until(() => room.member(attacker.peerId)?.state === state, 'the victim to take the attacker\'s session')
    return session
  }

  /** signs a room message as the attacker */
  async function attackerMessage (room: Room, epoch: number, seq: number, data: Uint8Array): Promise<SealedMessage> {
    return sealAs(attackerKey, room, epoch, seq, data)
  }

  /**
   * The attacker asks `target` for a replay with `request` on a new stream,
   * and goes through the protocol as far as the responder lets it (wanting
   * everything listed, or nothing).
   */
  async function askReplay (target: MeshNode, request: Uint8Array<ArrayBuffer>, want = true): Promise<ReplayOutcome> {
    const signal = AbortSignal.timeout(20_000)
    const stream = await (await connectionTo(target)).newStream(REPLAY_PROTOCOL, { runOnLimitedConnection: true, signal })
    const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
    const next = async (): Promise<ReplayFrame> => ReplayFrame.decode((await lp.read({ signal })).subarray())

    try {
      await lp.write(ReplayFrame.encode({ request }), { signal })
      let frame = await next()

      if (frame.refused != null) {
        return { kind: 'refused', reason: frame.refused }
      }

      const held = [...frame.held]

      while (!frame.heldEnd) {
        frame = await next()
        held.push(...frame.held)
      }

      await lp.write(ReplayFrame.encode({ wants: want ? held.map(h => ({ sender: h.sender, epoch: h.epoch, after: 0n, upTo: h.highest })) : [], wantsEnd: true }), { signal })
      const messages: Uint8Array[] = []

      do {
        frame = await next()
        messages.push(...frame.messages)
      } while (!frame.end)

      await stream.close({ signal }).catch(() => {})
      return { kind: 'answered', held: held.length, messages }
    } catch (err: any) {
      stream.abort(err)
      return { kind: 'reset', error: err.name }
    }
  }

  /** what `a` refused of the attacker */
  function fromAttacker (): RejectedMessage[] {
    return rejections.filter(r => r.remotePeer.equals(attacker.peerId))
  }

  /** what `a` refused, readably */
  function refusedByA (): string[] {
    return rejections.map(r => `${r.error.name} from ${r.remotePeer}: ${r.error.message}`)
  }

  function failuresOf (room: Room): string[] {
    const failures: string[] = []
    room.addEventListener('replay:failed', (evt) => { failures.push(`${evt.detail.peerId}: ${evt.detail.error.name} ${evt.detail.error.message}`) })
    return failures
  }

  function gapsOf (room: Room): MessageGap[] {
    const gaps: MessageGap[] = []
    room.addEventListener('gap', (evt) => { gaps.push(evt.detail) })
    return gaps
  }

  /** c is cut off from a and b; then b sends b1..b20, and a (seen through `atA`) has them */
  async function cutOffWhileBTalks (roomA: Room, roomB: Room, atA: RoomMessage[]): Promise<void> {
    await isolate(gated.slice(0, 3), 2)
    await until(() => roomA.member(c.peerId)?.route === 'none' && roomB.member(c.peerId)?.route === 'none', 'c to be cut off', 30_000)
    await Promise.all(numbered('b', 20).map(async text => roomB.send(encode(text))))
    await until(() => texts(atA, b.peerId).length === 20, 'a to get b\'s messages')
  }

  /** `members[i]` and `members[j]` refuse each other */
  async function separate (x: Partitionable, y: Partitionable): Promise<void> {
    await Promise.all([x.cut(y.node.peerId), y.cut(x.node.peerId)])
  }

  it('400 heartbeats with fresh epochs make no state: the victim still catches up after a cut', async () => {
    const [roomA, roomB, roomC] = await join('hostile-heartbeats')
    const atA = inbox(roomA)
    const gapsA = gapsOf(roomA)
    const failedA = failuresOf(roomA)
    const session = await hostileSession(roomA, a)

    // a heartbeat claims an epoch and a message written; nothing is signed
    const base = Date.now()

    for (let i = 1; i <= 400; i++) {
      await session.heartbeat({ epoch: BigInt(base + i), sent: 1n, written: 1n })
    }

    // a signed message after them: once a has it, a has read every heartbeat
    const barrier = await attackerMessage(roomA, base, 1, encode('barrier'))
    await session.send({ message: barrier.envelope })
    await until(() => texts(atA, attacker.peerId).length === 1, 'a to deliver the attacker\'s message')

    // a is cut off from b and c while b talks
    await isolate(gated.slice(0, 3), 0)
    await until(() => roomB.member(a.peerId)?.route === 'none' && roomA.member(b.peerId)?.route === 'none' && roomA.member(c.peerId)?.route === 'none', 'a to be cut off', 30_000)
    const atC = inbox(roomC)
    await Promise.all(numbered('b', 20).map(async text => roomB.send(encode(text))))
    await until(() => texts(atC, b.peerId).length === 20, 'c to get b\'s messages')
    expect(texts(atA, b.peerId)).to.be.empty()

    // back: a asks b and c for what it missed, and gets all of it
    gated.forEach(g => { g.heal() })
    await until(() => texts(atA, b.peerId).length === 20, 'a to catch up with b', 60_000, () => ({ delivered: texts(atA, b.peerId).length, gaps: gapsA, failed: failedA }))
    expect(texts(atA, b.peerId)).to.deep.equal(numbered('b', 20))
    expect(atA.filter(m => m.sender.equals(b.peerId)).every(m => m.replayed)).to.be.true()
    expect(gapsA.filter(gap => gap.sender.equals(b.peerId)), 'no gap for the honest sender').to.be.empty()

    // a heartbeat's epoch never makes state: a follows only signed epochs (b's, the attacker's one)
    expect(impl(roomA).messaging.inbound.size).to.be.at.most(3)

    // and a's room works both ways
    const atB = inbox(roomB)
    await roomA.send(encode('a after'))
    await roomB.send(encode('b after'))
    await until(() => texts(atB, a.peerId).includes('a after') && texts(atC, a.peerId).includes('a after') && texts(atA, b.peerId).includes('b after'), 'a\'s room to work both ways', 30_000)
  })

  it('260 records of fresh keys from one member do not fill the room: an honest newcomer still joins everywhere', async () => {
    const [roomA, roomB, roomC] = await join('hostile-sybil-records')
    const session = await hostileSession(roomA, a)
    const records = await Promise.all(Array.from({ length: 260 }, async () => {
      return sealMemberRecord({ room: roomA.name, seq: initialSeq() }, await generateKeyPair('Ed25519'))
    }))

    for (const record of records) {
      await session.send({ record: record.envelope })
    }

    // a record after them, on the same stream, shows they were all read
    const marker = await sealMemberRecord({ room: roomA.name, seq: initialSeq() + 1n }, attackerKey)
    await session.send({ record: marker.envelope })
    await until(() => impl(roomA).seen.values().some(r => r.peerId.equals(attacker.peerId) && r.seq === marker.seq), 'a to take the record after the others')

    const fake = new Set(records.map(r => r.peerId.toString()))
    const fakesAt = (room: Room): number => impl(room).all().filter(m => fake.has(m.peerId.toString())).length
    expect(fakesAt(roomA), 'fake members a tracks').to.be.at.most(32)
    // none of them was passed on
    expect(fakesAt(roomB), 'fake members b tracks').to.equal(0)
    expect(fakesAt(roomC), 'fake members c tracks').to.equal(0)

    const roomD = await d.services.mesh.join('hostile-sybil-records')
    rooms.push(roomD)
    await until(() => [roomA, roomB, roomC].every(room => room.member(d.peerId)?.state === 'direct'), 'the newcomer to be direct with a, b and c', 60_000)
  })

  it('a member passing on more records in a minute than a room holds has the rest dropped, reported once, its stream kept', async () => {
    const [roomA] = await join('hostile-record-quota')
    const session = await hostileSession(roomA, a)
    // past 4 × (maxMembers 256 + 32 pending) a minute
    const records = await Promise.all(Array.from({ length: 1200 }, async () => {
      return sealMemberRecord({ room: roomA.name, seq: initialSeq() }, await generateKeyPair('Ed25519'))
    }))

    for (const record of records) {
      await session.send({ record: record.envelope })
    }

    await until(() => rejections.some(r => r.remotePeer.equals(attacker.peerId) && r.error.name === 'RecordQuotaError'), 'a to refuse the records past the quota')
    await session.heartbeat()
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(rejections.filter(r => r.error.name === 'RecordQuotaError'), 'reported once').to.have.lengthOf(1)
    expect(roomA.member(attacker.peerId)?.state, 'the attacker\'s stream is kept').to.equal('relayed')
    expect(impl(roomA).all().filter(m => !m.joined).length, 'pending members').to.be.at.most(32)
    // records kept: the members, the attacker and at most 32 pending
    expect(impl(roomA).seen.values().length, 'records a keeps').to.be.at.most(3 + 32)
  })

  it('a pending peer that left cannot be brought back by its older record', async () => {
    const [roomA] = await join('hostile-pending-leave')
    const session = await hostileSession(roomA, a)
    const key = await generateKeyPair('Ed25519')
    const joined = await sealMemberRecord({ room: roomA.name, seq: initialSeq() }, key)
    const leave = await sealMemberRecord({ room: roomA.name, seq: initialSeq() + 1n, leaving: true }, key)
    const pendingAtA = (): boolean => impl(roomA).all().some(m => m.peerId.equals(joined.peerId))

    await session.send({ record: joined.envelope })
    await until(pendingAtA, 'a to take the peer as pending')
    await session.send({ record: leave.envelope })
    await until(() => !pendingAtA(), 'a to drop the peer that left')

    // the older record again, then a marker to show it was read
    await session.send({ record: joined.envelope })
    const marker = await sealMemberRecord({ room: roomA.name, seq: initialSeq() + 5n }, attackerKey)
    await session.send({ record: marker.envelope })
    await until(() => impl(roomA).seen.values().some(r => r.peerId.equals(attacker.peerId) && r.seq === marker.seq), 'a to take the record after it')
    expect(pendingAtA(), 'the peer is back').to.be.false()
  })

  it('a record naming a host:port that is no relay as its relay: each member dials it a bounded number of times', async () => {
    // the victim: a TCP port that counts the connections made to it
    let connects = 0
    const victim = createServer(socket => { connects++; socket.destroy() })
    await new Promise<void>(resolve => victim.listen(0, '127.0.0.1', resolve))
    const port = (victim.address() as AddressInfo).port

    try {
      const [roomA, roomB, roomC] = await join('hostile-reflection')
      const session = await hostileSession(roomA, a)
      // 8 "relays" on the victim's port, each under its own made-up peer id;
      // and one more made-up id on the victim's port and on 4 closed ports
      // (the circuit transport dials every address the peer store holds for
      // a relay id)
      const fakeRelays = await Promise.all(Array.from({ length: 9 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
      const closedPorts = await Promise.all([0, 1, 2, 3].map(async () => {
        const server = createServer()
        await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
        const closed = (server.address() as AddressInfo).port
        await new Promise(resolve => server.close(resolve))
        return closed
      }))
      const shared = fakeRelays.pop()
      const record = await sealMemberRecord({
        room: roomA.name,
        seq: initialSeq() + 1n,
        multiaddrs: [
          ...[port, ...closedPorts].map(p => multiaddr(`/ip4/127.0.0.1/tcp/${p}/ws/p2p/${shared}/p2p-circuit`)),
          ...fakeRelays.map(relayId => multiaddr(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${relayId}/p2p-circuit`))
        ]
      }, attackerKey)
      await session.send({ record: record.envelope })
      await until(() => [roomA, roomB, roomC].every(room => room.member(attacker.peerId)?.multiaddrs.length === 13), 'every member to take the record')

      // the attacker goes: every member now tries to reach it through its record
      session.close()
      await Promise.all([a, b, c].map(async node => attacker.hangUp(node.peerId)))
      await new Promise(resolve => setTimeout(resolve, 20_000))

      // before: every member dialed every address on each retry (38 connects
      // from 2 members in 30 s with one address)
      expect(connects, 'connections to the victim port').to.be.at.most(3 * UNVERIFIED_RELAY_DIALS)
    } finally {
      victim.close()
    }
  })

  it('2,000 leaves of peers the room never knew are neither kept nor passed on', async () => {
    const [roomA, roomB] = await join('hostile-unknown-leaves')
    const session = await hostileSession(roomA, a)
    const size = (room: Room): number => impl(room).seen.values().length
    const before = [size(roomA), size(roomB)]
    const leaves = await Promise.all(Array.from({ length: 2000 }, async () => {
      return sealMemberRecord({ room: roomA.name, seq: initialSeq(), leaving: true }, await generateKeyPair('Ed25519'))
    }))

    for (const leave of leaves) {
      await session.send({ record: leave.envelope })
    }

    // past the per-member quota the rest are dropped unread
    await until(() => rejections.some(r => r.remotePeer.equals(attacker.peerId) && r.error.name === 'RecordQuotaError'), 'a to refuse the records past the quota')

    expect(size(roomA), 'records a keeps').to.be.at.most(before[0] + 1)
    expect(size(roomB), 'records b keeps').to.be.at.most(before[1] + 1)
    expect(roomA.members.map(m => m.peerId.toString()).sort()).to.deep.equal([attacker.peerId, b.peerId, c.peerId].map(String).sort())
  })

  it('350 one-message epochs signed by the attacker do not stop replays from the victim', async () => {
    const [roomA, roomB, roomC] = await join('hostile-epochs')
    const atA = inbox(roomA)
    const session = await hostileSession(roomA, a)

    const base = Date.now()
    const signed = await Promise.all(Array.from({ length: 350 }, async (_, i) => attackerMessage(roomA, base + i, 1, encode(`e${i + 1}`))))

    for (const message of signed) {
      await session.send({ message: message.envelope })
    }

    await until(() => texts(atA, attacker.peerId).length === 350, 'a to deliver the 350 epochs', 30_000)
    expect(texts(atA, attacker.peerId)).to.deep.equal(numbered('e', 350))

    // c is cut off from all while b talks
    await cutOffWhileBTalks(roomA, roomB, atA)
    // a's log holds over 350 sender-epochs: a one-frame list of them is over 16 KiB
    expect(impl(roomA).messaging.log.keys().length).to.be.greaterThan(350)

    // c gets back to a only (b stays cut off): all it missed must come from a
    const atC = inbox(roomC)
    const gapsC = gapsOf(roomC)
    const failedC = failuresOf(roomC)
    gated[0].uncut(c.peerId)
    gated[2].uncut(a.peerId)
    await until(() => texts(atC, b.peerId).length === 20, 'c to catch up with b through a', 60_000, () => ({ delivered: texts(atC, b.peerId).length, gaps: gapsC, failed: failedC }))
    expect(texts(atC, b.peerId)).to.deep.equal(numbered('b', 20))
    expect(atC.filter(m => m.sender.equals(b.peerId)).every(m => m.replayed)).to.be.true()
    expect(gapsC.filter(gap => gap.sender.equals(b.peerId)), 'no gap for the honest sender').to.be.empty()
    expect(c.getConnections(b.peerId)).to.be.empty()
  })

  it('a flooding sender evicts its own messages: what an honest member sent before stays replayable', async () => {
    const [roomA, roomB, roomC] = await join('hostile-flood')
    const atA = inbox(roomA)
    const session = await hostileSession(roomA, a)

    // c is cut off from all while b talks
    await cutOffWhileBTalks(roomA, roomB, atA)

    // then the attacker sends a five times its log bound, one byte each
    const flood = 5 * MAX_LOG
    const epoch = Date.now()
    const signed = await Promise.all(Array.from({ length: flood }, async (_, i) => attackerMessage(roomA, epoch, i + 1, Uint8Array.of(i & 0xff))))

    for (const message of signed) {
      await session.send({ message: message.envelope })
    }

    await until(() => texts(atA, attacker.peerId).length === flood, 'a to deliver the flood', 60_000)
    expect(impl(roomA).messaging.log.size).to.be.at.most(MAX_LOG)

    // c gets back to a only: b's messages must come from a's log
    const atC = inbox(roomC)
    const gapsC = gapsOf(roomC)
    const failedC = failuresOf(roomC)
    gated[0].uncut(c.peerId)
    gated[2].uncut(a.peerId)
    await until(() => texts(atC, b.peerId).length === 20, 'c to catch up with b through a', 60_000, () => ({ delivered: texts(atC, b.peerId).length, gaps: gapsC, failed: failedC }))
    expect(texts(atC, b.peerId)).to.deep.equal(numbered('b', 20))
    expect(gapsC.filter(gap => gap.sender.equals(b.peerId)), 'no gap for the honest sender').to.be.empty()
  })

  it('a replay is only for a member with a session, and one signed request is answered once', async () => {
    const [roomA, roomB] = await join('hostile-replay')
    const atA = inbox(roomA)
    await Promise.all(numbered('b', 5).map(async text => roomB.send(encode(text))))
    await until(() => texts(atA, b.peerId).length === 5, 'a to get b\'s messages')

    // a peer that never joined the room
    const outsider = await askReplay(a, await sealReplayRequest({ room: roomA.name }, attackerKey) as Uint8Array<ArrayBuffer>)
    expect(outsider).to.have.property('kind', 'refused')
    await until(() => fromAttacker().length > 0, 'a to report the refusal')
    expect(fromAttacker().map(r => r.error.name)).to.deep.equal(['ReplayRefusedError'])

    // with a session, one request sent on 8 streams at once
    await hostileSession(roomA, a)
    rejections = []
    const request = await sealReplayRequest({ room: roomA.name }, attackerKey) as Uint8Array<ArrayBuffer>
    const outcomes = await Promise.all(Array.from({ length: 8 }, async () => askReplay(a, request)))

    const answered = outcomes.filter(o => o.kind === 'answered')
    const refused = outcomes.filter(o => o.kind === 'refused')
    const summary = outcomes.map(o => o.kind === 'answered' ? `answered with ${o.messages.length} messages` : `${o.kind}: ${o.kind === 'refused' ? o.reason : o.error}`).join('; ')
    expect(answered, summary).to.have.lengthOf(1)
    const batches = answered[0].kind === 'answered' ? answered[0].messages : []
    expect(batches.flatMap(bytes => decodeStoredRoomBatch(bytes).messages).map(m => decode(m.data))).to.deep.equal(numbered('b', 5))
    expect(outcomes.filter(o => o.kind === 'refused' || o.kind === 'reset')).to.have.lengthOf(7)
    await until(() => fromAttacker().length >= refused.length, 'a to report the refusals')
    expect(fromAttacker().map(r => r.error.name)).to.deep.equal(refused.map(() => 'ReplayRefusedError'))

    // the refusals cost the honest members nothing
    expect(roomA.member(b.peerId)?.state).to.equal('direct')
  })

  it('a message sent again 30 times is passed on once', async () => {
    const [roomA, , roomC] = await join('hostile-forward')
    const atA = inbox(roomA)
    const atC = inbox(roomC)
    const session = await hostileSession(roomA, a)
    await until(() => roomC.member(attacker.peerId) != null, 'c to learn the attacker\'s record')

    // count every copy of the message that reaches c on its streams
    const message = await attackerMessage(roomA, Date.now(), 1, encode('once'))
    const messaging = impl(roomC).messaging
    const receiveLive = messaging.receiveLive.bind(messaging)
    let copies = 0
    messaging.receiveLive = async (from, bytes, forwardTo) => {
      if (uint8ArrayEquals(bytes, message.envelope)) {
        copies++
      }

      return receiveLive(from, bytes, forwardTo)
    }

    // each copy names c (which has no stream with the attacker) for a to pass on to
    const forwardTo = [c.peerId.toMultihash().bytes]

    for (let i = 0; i < 30; i++) {
      await session.send({ message: message.envelope, forwardTo })
    }

    // a reads in order and queues to c in order: once c has this one, every copy has come
    const last = await attackerMessage(roomA, message.epoch, 2, encode('last'))
    await session.send({ message: last.envelope, forwardTo })
    await until(() => texts(atC, attacker.peerId).length === 2, 'c to get both messages')

    expect(copies, 'copies of one message a passed on to c').to.equal(1)
    expect(texts(atC, attacker.peerId)).to.deep.equal(['once', 'last'])
    expect(texts(atA, attacker.peerId)).to.deep.equal(['once', 'last'])
  })

  it('a batch its sender signed wrong on its own stream is never passed on, and the sender is reported', async () => {
    const [roomA, , roomC] = await join('hostile-bad-signature')
    const atA = inbox(roomA)
    const atC = inbox(roomC)
    const session = await hostileSession(roomA, a)
    await until(() => roomC.member(attacker.peerId) != null, 'c to learn the attacker\'s record')
    const forwardTo = [c.peerId.toMultihash().bytes]

    // the signature is the batch's last field: its last byte is flipped
    const forged = await attackerMessage(roomA, Date.now(), 1, encode('forged'))
    const broken = forged.envelope.slice()
    broken[broken.length - 1] ^= 1
    await session.send({ message: broken, forwardTo })

    // a takes it (the attacker's own stream is authenticated with its key),
    // but checks it before passing it on: it refuses to vouch for it, reports
    // the sender and resets the sender's stream; nothing of it reaches c
    await until(() => fromAttacker().some(r => r.error.name === 'InvalidSignatureError'), 'a to refuse to pass it on', 20_000, refusedByA)
    await until(() => session.stream.status !== 'open' || session.stream.readStatus !== 'readable', 'the attacker\'s stream to be reset')
    expect(texts(atA, attacker.peerId)).to.deep.equal(['forged'])
    expect(texts(atC, attacker.peerId)).to.be.empty()
    expect(roomA.member(c.peerId)?.state).to.equal('direct')
  })

  it('a message of the largest size with a forwardTo list does not reset the stream of its honest sender', async () => {
    // b cannot reach c and d, which a reaches: b's messages carry a forwardTo
    // list naming them. The longest room name makes the envelope largest.
    const name = 'hostile-max-size-'.padEnd(256, 'x')
    await Promise.all([separate(gated[1], gated[2]), separate(gated[1], gated[3])])
    const joined = await Promise.all([a, b, c, d].map(async node => node.services.mesh.join(name)))
    rooms.push(...joined)
    const [roomA, roomB, roomC, roomD] = joined
    await until(() => [b, c, d].every(node => roomA.member(node.peerId)?.state === 'direct') &&
      roomC.member(d.peerId)?.state === 'direct' &&
      [c, d].every(node => roomB.member(node.peerId) != null && roomB.member(node.peerId)?.route === 'none'), 'a room where b reaches only a', 60_000)
    const atC = inbox(roomC)
    const atD = inbox(roomD)

    const data = new Uint8Array(MAX_MESSAGE_SIZE - 512).fill(7)
    // a max-size message with a forwardTo list naming every other member is
    // over the message limit, and within the frame limit
    const sample = await attackerMessage(roomB, Date.now(), 1, data)
    const everyone = await Promise.all(Array.from({ length: 255 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toMultihash().bytes))
    const frame = MeshMessage.encode({ message: sample.envelope, forwardTo: everyone }).byteLength
    expect(frame).to.be.greaterThan(MAX_MESSAGE_SIZE)
    expect(frame).to.be.at.most(maxFrameSize(resolveMeshInit({})))

    const atA = impl(roomA).getMember(b.peerId)?.session
    const atB = impl(roomB).getMember(a.peerId)?.session
    expect(atA?.open).to.be.true()
    await roomB.send(data)

    await until(() => atC.some(m => m.sender.equals(b.peerId)) && atD.some(m => m.sender.equals(b.peerId)), 'c and d to get b\'s message', 30_000, refusedByA)
    expect(atC.filter(m => m.sender.equals(b.peerId)).map(m => m.data)).to.deep.equal([data])
    expect(atD.filter(m => m.sender.equals(b.peerId)).map(m => m.data)).to.deep.equal([data])
    expect(refusedByA().join('; '), 'what a refused').to.equal('')
    expect(impl(roomA).getMember(b.peerId)?.session, 'a kept its stream with b').to.equal(atA)
    expect(impl(roomB).getMember(a.peerId)?.session, 'b kept its stream with a').to.equal(atB)
    expect(atA?.open).to.be.true()
  })

  it('two messages signed for one seq: the first is kept and delivered once, the second refused', async () => {
    const [roomA] = await join('hostile-equivocation', [a, b])
    const atA = inbox(roomA)
    const session = await hostileSession(roomA, a)
    const epoch = Date.now()
    const first = await attackerMessage(roomA, epoch, 1, encode('first'))
    const second = await attackerMessage(roomA, epoch, 1, encode('second'))

    await session.send({ message: first.envelope })
    await until(() => texts(atA, attacker.peerId).length === 1, 'a to deliver the first')

    await session.send({ message: second.envelope })
    await until(() => fromAttacker().length > 0, 'a to refuse the second', 20_000, () => ({ delivered: texts(atA, attacker.peerId) }))
    const [detail] = fromAttacker()
    expect(detail.error.name, detail.error.message).to.equal('EquivocationError')

    // the equivocating stream is reset; the first message stays the only one
    await until(() => session.stream.status !== 'open' || session.stream.readStatus !== 'readable', 'the attacker\'s stream to be reset')
    expect(texts(atA, attacker.peerId)).to.deep.equal(['first'])
    expect(roomA.member(b.peerId)?.state).to.equal('direct')
  })

  // Found while writing the tests above, fixed since: the log's fair share is
  // per signing key, and an open room took live messages of any key from any
  // member: 2,000 messages signed by 2,000 fresh keys were 2,000 senders of
  // one message each, so the honest sender, with 20, held the largest share
  // and lost all of them first (a ended with 0 of b's 20; c waited for them
  // for good, with no gap).
  it('a flood signed by many keys that are not members is refused and evicts nothing an honest member sent', async () => {
    const [roomA, roomB, roomC] = await join('hostile-sybil-flood')
    const atA = inbox(roomA)
    const session = await hostileSession(roomA, a)

    await cutOffWhileBTalks(roomA, roomB, atA)

    const flood = 5 * MAX_LOG
    const epoch = Date.now()
    const signed = await Promise.all(Array.from({ length: flood }, async () => {
      const key = await generateKeyPair('Ed25519')
      return sealAs(key, roomA, epoch, 1, Uint8Array.of(1))
    }))

    for (const message of signed) {
      await session.send({ message: message.envelope })
    }

    // a message of the attacker's own after them: once a has it, a has read the flood
    const barrier = await attackerMessage(roomA, epoch, 1, encode('barrier'))
    await session.send({ message: barrier.envelope })
    await until(() => texts(atA, attacker.peerId).length === 1, 'a to deliver the attacker\'s message')

    expect(atA.filter(m => !m.sender.equals(b.peerId) && !m.sender.equals(attacker.peerId)), 'messages of keys that are not members').to.be.empty()
    expect(fromAttacker().filter(r => r.error.name === 'NotAMemberError'), 'reported once a minute').to.have.lengthOf(1)
    expect(impl(roomA).messaging.log.held().filter(h => h.sender.equals(b.peerId)).reduce((n, h) => n + h.highest - h.lowest + 1, 0), 'b\'s messages held by a').to.equal(20)

    const atC = inbox(roomC)
    const gapsC = gapsOf(roomC)
    const failedC = failuresOf(roomC)
    gated[0].uncut(c.peerId)
    gated[2].uncut(a.peerId)
    await until(() => texts(atC, b.peerId).length === 20, 'c to catch up with b through a', 60_000, () => ({ delivered: texts(atC, b.peerId).length, gaps: gapsC, failed: failedC, heldByA: impl(roomA).messaging.log.held().filter(h => h.sender.equals(b.peerId)) }))
    expect(texts(atC, b.peerId)).to.deep.equal(numbered('b', 20))
  })

  // Found while writing the tests above, fixed since: the replay nonces were
  // one table for all members (4096 per room), and a full table refused
  // everyone, so one member asking 4096 times for nothing locked every other
  // member out of replays from the victim for two minutes.
  it('one member\'s replay requests do not use up the replays of the others', async function () {
    this.timeout(300_000)
    const [roomA, roomB, roomC] = await join('hostile-nonces')
    const atA = inbox(roomA)
    await hostileSession(roomA, a)

    await cutOffWhileBTalks(roomA, roomB, atA)

    // the attacker asks, one request after another, for nothing
    let answered = 0
    let refusal: ReplayOutcome | undefined

    while (refusal == null && answered < 5000) {
      const outcome = await askReplay(a, await sealReplayRequest({ room: roomA.name }, attackerKey) as Uint8Array<ArrayBuffer>, false)

      if (outcome.kind === 'answered') {
        answered++
      } else if (outcome.kind === 'refused' && !outcome.reason.includes('under way')) {
        refusal = outcome
      }
    }

    // c gets back to a only
    const atC = inbox(roomC)
    const failedC = failuresOf(roomC)
    gated[0].uncut(c.peerId)
    gated[2].uncut(a.peerId)
    await until(() => texts(atC, b.peerId).length === 20, 'c to catch up with b through a', 60_000, () => ({ answeredToAttacker: answered, refusal, delivered: texts(atC, b.peerId).length, failed: failedC }))
    expect(texts(atC, b.peerId)).to.deep.equal(numbered('b', 20))
  })

  // Fixed: an equivocation was blamed on the member it came from (the
  // attacker gives a the first message and c the second, with forwardTo
  // naming a; c passes it on, and a reset its stream with c). It is now
  // reported against its signer and dropped.
  it('an equivocation passed on by an honest member does not reset that member\'s stream', async () => {
    const [roomA, , roomC] = await join('hostile-equivocation-forwarded')
    const atA = inbox(roomA)
    const atC = inbox(roomC)
    const toA = await hostileSession(roomA, a)
    const toC = await hostileSession(roomC, c)
    const epoch = Date.now()
    const first = await attackerMessage(roomA, epoch, 1, encode('first'))
    const second = await attackerMessage(roomA, epoch, 1, encode('second'))

    const withC = impl(roomA).getMember(c.peerId)?.session
    expect(withC?.open).to.be.true()

    // one right after the other: were c to wait, a's next heartbeat could
    // tell it that a holds a message of the attacker, c would fetch the
    // first in a replay, and then refuse the second from its signer itself
    // (seen in a suite run: no forward, and a refused nothing). The first
    // reaches a directly, the second only through c, a hop later
    await toA.send({ message: first.envelope })
    await toC.send({ message: second.envelope, forwardTo: [a.peerId.toMultihash().bytes] })
    await until(() => texts(atA, attacker.peerId).length === 1, 'a to deliver the first')
    await until(() => texts(atC, attacker.peerId).length === 1, 'c to deliver the second')
    expect(texts(atC, attacker.peerId), 'what c delivered').to.deep.equal(['second'])

    // c checks the batch before it passes it on; a refuses it, blaming its signer
    await until(() => fromAttacker().some(r => r.error.name === 'EquivocationError'), 'a to refuse the second, blaming its signer', 20_000, refusedByA)
    // a barrier on the stream c -> a, sent after: once a has it, nothing more of c's is in flight
    await roomC.send(encode('barrier'))
    await until(() => texts(atA, c.peerId).length === 1, 'a to get c\'s message', 20_000, refusedByA)
    expect(texts(atA, attacker.peerId)).to.deep.equal(['first'])
    expect(rejections.filter(r => r.remotePeer.equals(c.peerId)).map(r => r.error.name), 'refusals blamed on c').to.be.empty()
    expect(impl(roomA).getMember(c.peerId)?.session, 'a kept its stream with c').to.equal(withC)
  })

  // Fixed: a room stream that ranks lower than the member's current one was
  // closed and never read, so what the member had sent on it was lost, and
  // a message it had passed on there could not come again in a replay. An
  // honest member sends on such a stream when its own stream ended at its
  // end first: it takes the next one it opens, which we, still on the old
  // one, rank lower.
  /**
   * A victim alone in room `name` that keeps its relayed connections once
   * direct, with the attacker's session on a direct WebRTC connection
   * (`current`: it ranks above any relayed one) and the attacker's relayed
   * connection beside it, for streams that rank lower.
   */
  async function lowerRankedSetup (name: string): Promise<{ room: Room, current?: Session, direct: Connection, relayed: Connection }> {
    const victim = await createMember(relay.wsAddr, { mesh: { closeRelayedAfterUpgrade: false } })
    extra.push(victim)
    const [room] = await join(name, [victim])
    const direct = await attacker.dial(await waitForWebRTCAddress(victim), { signal: AbortSignal.timeout(20_000) })
    expect(isDirect(direct), 'the attacker\'s WebRTC connection to the victim').to.be.true()
    await hostileSession(room, victim, direct)
    const current = impl(room).getMember(attacker.peerId)?.session
    const relayed = await attacker.dial(await waitForCircuitAddress(victim), { force: true, signal: AbortSignal.timeout(20_000) })
    expect(isDirect(relayed), 'the attacker\'s relayed connection to the victim').to.be.false()
    return { room, current, direct, relayed }
  }

  it('a stream ranked lower than the member\'s current one is read until the member closes it: what came on it is not lost', async () => {
    const { room, current, direct, relayed } = await lowerRankedSetup('hostile-lower-ranked')
    const atVictim = inbox(room)
    let stream: Stream | undefined

    try {
      // a second stream on the relayed connection: its record, and a message right behind it
      stream = await relayed.newStream(ROOM_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
      const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
      const record = await sealMemberRecord({ room: room.name, seq: initialSeq() }, attackerKey)
      const message = await attackerMessage(room, Date.now(), 1, encode('on the lower-ranked stream'))
      await lp.write(MeshMessage.encode({ record: record.envelope }))
      await lp.write(MeshMessage.encode({ message: message.envelope }))

      await until(() => texts(atVictim, attacker.peerId).length === 1, 'the victim to deliver the message that came on the stream it ranked lower')
      expect(impl(room).getMember(attacker.peerId)?.session, 'the victim kept the direct stream').to.equal(current)
    } finally {
      stream?.abort(new Error('test over'))
      await Promise.allSettled([direct.close(), relayed.close()])
    }
  })

  it('streams ranked lower that the member keeps open are aborted: past MAX_LOWER_STREAMS at once, the rest after LOWER_STREAM_TIMEOUT', async () => {
    const { room, current, direct, relayed } = await lowerRankedSetup('hostile-lower-ranked-bounds')
    const streams: Stream[] = []

    try {
      // one more than the victim reads, each left open by the attacker
      for (let i = 0; i <= MAX_LOWER_STREAMS; i++) {
        const stream = await relayed.newStream(ROOM_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
        streams.push(stream)
        await lpStream(stream).write(MeshMessage.encode({ record: (await sealMemberRecord({ room: room.name, seq: initialSeq() }, attackerKey)).envelope }))
      }

      const reset = (): boolean[] => streams.map(stream => stream.status !== 'open')
      await until(() => reset()[MAX_LOWER_STREAMS], 'the victim to abort the stream past its limit', 4_000, reset)
      expect(reset().slice(0, MAX_LOWER_STREAMS), 'the streams it reads, at first').to.deep.equal(Array(MAX_LOWER_STREAMS).fill(false))
      await until(() => reset().every(Boolean), 'the victim to abort the streams it read', LOWER_STREAM_TIMEOUT + 5_000, reset)
      expect(impl(room).getMember(attacker.peerId)?.session, 'the victim kept the direct stream').to.equal(current)
    } finally {
      streams.forEach(stream => { stream.abort(new Error('test over')) })
      await Promise.allSettled([direct.close(), relayed.close()])
    }
  })

  // Fixed: a replay nonce was remembered for 2 * replayTimeout, but a
  // request is accepted for DEFAULT_MAX_REQUEST_AGE (60 s) plus 30 s of
  // clock skew, so with a short replayTimeout one signed request was answered
  // again (here after 11 s).
  it('a signed replay request is answered once also with a short replayTimeout', async function () {
    this.timeout(120_000)
    const victim = await createMember(relay.wsAddr, { mesh: { replayTimeout: 5000 } })
    extra.push(victim)
    const room = await victim.services.mesh.join('hostile-nonce-lifetime')
    rooms.push(room)
    await room.send(encode('v1'))
    await hostileSession(room, victim)

    const request = await sealReplayRequest({ room: room.name }, attackerKey) as Uint8Array<ArrayBuffer>
    expect(await askReplay(victim, request)).to.have.property('kind', 'answered')
    await new Promise(resolve => setTimeout(resolve, 11_000))
    expect((await askReplay(victim, request)).kind, 'the same request, 11 s later').to.equal('refused')
  })

  // Fixed: a responder lists every sender-epoch its log holds (up to
  // maxLogMessages of them), but a requester took at most maxMembers * 32
  // held ranges: past that, every replay from the responder failed. Scaled
  // down here: maxMembers 8 (256 ranges) and 300 one-message epochs.
  it('a responder whose log holds more sender-epochs than a requester takes still answers', async () => {
    const scaled = await Promise.all([0, 1, 2].map(async () => createPartitionable(relay.wsAddr, { mesh: { maxLogMessages: MAX_LOG, maxMembers: 8 } })))
    const [e, f, g] = scaled.map(m => m.node)
    extra.push(e, f, g)
    const [roomE, roomF, roomG] = await join('hostile-held-ranges', [e, f, g])
    const atE = inbox(roomE)
    const session = await hostileSession(roomE, e)
    const base = Date.now()

    for (let i = 0; i < 300; i++) {
      await session.send({ message: (await attackerMessage(roomE, base + i, 1, encode(`e${i + 1}`))).envelope })
    }

    await until(() => texts(atE, attacker.peerId).length === 300, 'e to deliver the 300 epochs', 30_000)

    await isolate(scaled, 2)
    await until(() => roomE.member(g.peerId)?.route === 'none' && roomF.member(g.peerId)?.route === 'none', 'g to be cut off', 30_000)
    await Promise.all(numbered('f', 20).map(async text => roomF.send(encode(text))))
    await until(() => texts(atE, f.peerId).length === 20, 'e to get f\'s messages')

    const atG = inbox(roomG)
    const failedG = failuresOf(roomG)
    scaled[0].uncut(g.peerId)
    scaled[2].uncut(e.peerId)
    await until(() => texts(atG, f.peerId).length === 20, 'g to catch up with f through e', 60_000, () => ({ delivered: texts(atG, f.peerId).length, failed: failedG }))
    expect(texts(atG, f.peerId)).to.deep.equal(numbered('f', 20))
  })

  // Found while writing the tests above: a member with an RSA key could send
  // data its receivers refused as too large. Room messages are now checked
  // by the key a peer id holds, which an RSA peer id does not: such a node
  // cannot join, with a clear error.
  it('1,000 sender-epochs: a member cut off while they were sent catches up on all of them, in pages', async () => {
    const trio = await Promise.all([0, 1, 2].map(async () => createPartitionable(relay.wsAddr)))
    const [h, i, j] = trio.map(m => m.node)
    extra.push(h, i, j)
    const [roomH, roomI, roomJ] = await join('hostile-thousand-senders', [h, i, j])
    const atH = inbox(roomH)

    // j is cut off; h gets messages of 1,000 senders (fresh keys, one
    // message each) that are not members: live they are refused, so they
    // come as a replay does (messages of members since gone)
    await isolate(trio, 2)
    await until(() => roomH.member(j.peerId)?.route === 'none' && roomI.member(j.peerId)?.route === 'none', 'j to be cut off', 30_000)
    const epoch = Date.now()
    const signed = await Promise.all(Array.from({ length: 1000 }, async (_, n) => sealAs(await generateKeyPair('Ed25519'), roomH, epoch, 1, encode(`s${n + 1}`))))

    for (const message of signed) {
      await impl(roomH).messaging.receive(message.envelope, AbortSignal.timeout(10_000), attacker.peerId)
    }

    await until(() => atH.length === 1000, 'h to deliver the 1,000', 60_000)
    await roomI.send(encode('i1'))
    await until(() => texts(atH, i.peerId).length === 1, 'h to get i\'s message')

    // j gets back to h only: what h holds spans 1,000+ sender-epochs, listed in pages
    const atJ = inbox(roomJ)
    const gapsJ = gapsOf(roomJ)
    const failedJ = failuresOf(roomJ)
    trio[0].uncut(j.peerId)
    trio[2].uncut(h.peerId)
    await until(() => atJ.length === 1001, 'j to catch up through h', 60_000, () => ({ delivered: atJ.length, failed: failedJ }))
    expect(atJ.map(m => decode(m.data)).filter(t => t.startsWith('s')).sort()).to.deep.equal(signed.map(m => decode(m.data)).sort())
    expect(texts(atJ, i.peerId)).to.deep.equal(['i1'])
    expect(atJ.every(m => m.replayed)).to.be.true()
    expect(gapsJ).to.be.empty()
    expect(failedJ).to.be.empty()
  })

  it('a node with an RSA key cannot join a room, with a typed error', async () => {
    const rsa = await createMember(relay.wsAddr, { privateKey: await generateKeyPair('RSA', 2048) })
    extra.push(rsa)
    await expect(rsa.services.mesh.join('hostile-rsa')).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
    expect(rsa.services.mesh.rooms).to.be.empty()
  })
})
