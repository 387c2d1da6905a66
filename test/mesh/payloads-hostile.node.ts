import '../fixtures/datachannel-cleanup.ts'
import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { expect } from 'aegir/chai'
import { sealRoomBatch, signaturePayload } from '../../src/envelope/batch.ts'
import { Signer } from '../../src/envelope/keys.ts'
import { sealRoomNote } from '../../src/envelope/note.ts'
import { Frames } from '../../src/mesh/frames.ts'
import { PAYLOAD_CHUNK, PAYLOAD_REQUEST_CODEC, PAYLOAD_REQUEST_DOMAIN, PAYLOAD_REQUEST_MAX_AGE, PAYLOAD_REQUESTS_PER_MINUTE, MAX_PAYLOAD_STREAMS_PER_MEMBER, MIN_PAYLOAD_BLOCK } from '../../src/mesh/payloads/constants.ts'
import { PayloadAnswer, PayloadManifest, PayloadRequest, SignedPayloadRequest } from '../../src/mesh/pb/payload.ts'
import { isDirect } from '../../src/mesh/session.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createMember, createPartitionable, impl, inbox, keyOf, naming, rejections, sessionOf, until, waitForFullMesh, waitForSettledStreams } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { DirectMessage, MeshNodeInit, Room, RoomMessage } from '../../src/index.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'

/**
 * Hostile peers and large payloads (/relaymesh/mesh-payload/1.0.0). The
 * attackers are real member nodes (or a node of another room) on real
 * transports that speak the payload protocol by hand: their own signed
 * requests, forged, stale, malformed or replayed ones, streams they hold,
 * manifests that do not add up. An attacker's own internals may be replaced
 * (a forwarder that alters what it passes on, a payload handler that never
 * answers); the victims' are only read, never driven.
 */

const PAYLOAD_PROTOCOL = '/relaymesh/mesh-payload/1.0.0'
const KiB = 1024
const MiB = 1024 * KiB

const encode = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text)

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function directs (room: Room): DirectMessage[] {
  const events: DirectMessage[] = []
  room.addEventListener('direct', (evt) => { events.push(evt.detail) })
  return events
}

/** what a room's payloads hold (read only) */
function payloadState (room: Room): { streams: Record<string, number>, open: number, kept: number } {
  const payloads = impl(room).payloads as any
  return {
    streams: Object.fromEntries([...payloads.streams.entries()].map(([peer, n]: [PeerId, number]) => [peer.toString(), n])),
    open: payloads.open,
    kept: payloads.kept.size
  }
}

/** the manifest id (bytes) of a payload received */
function idOf (message: { payload?: RoomMessage['payload'] }): Uint8Array<ArrayBuffer> {
  return (message.payload as any).manifest.id
}

interface RequestFields {
  room: Uint8Array
  owner: PeerId
  id: Uint8Array
  fromBlock?: number
  requester: PeerId
  timestamp?: number
}

/** a PayloadRequest with these fields, signed by `key` (which need not be the requester's) */
async function signedRequest (fields: RequestFields, key: PrivateKey): Promise<Uint8Array<ArrayBuffer>> {
  const request = PayloadRequest.encode({
    room: fields.room as Uint8Array<ArrayBuffer>,
    owner: fields.owner.toMultihash().bytes as Uint8Array<ArrayBuffer>,
    id: fields.id as Uint8Array<ArrayBuffer>,
    fromBlock: fields.fromBlock ?? 0,
    requester: fields.requester.toMultihash().bytes as Uint8Array<ArrayBuffer>,
    timestamp: BigInt(fields.timestamp ?? Date.now()),
    nonce: randomBytes(16) as unknown as Uint8Array<ArrayBuffer>
  })
  const signature = await new Signer(key).sign(signaturePayload(PAYLOAD_REQUEST_DOMAIN, PAYLOAD_REQUEST_CODEC, request).subarray())
  return SignedPayloadRequest.encode({ request, signature: signature as Uint8Array<ArrayBuffer> })
}

/** a manifest with these fields (4 blocks of 256 KiB, random hashes, unless given) */
function manifestBytes (fields: Partial<PayloadManifest> = {}): Uint8Array<ArrayBuffer> {
  return PayloadManifest.encode({
    id: randomBytes(16) as unknown as Uint8Array<ArrayBuffer>,
    size: BigInt(MiB),
    blockSize: MIN_PAYLOAD_BLOCK,
    hashes: Array.from({ length: 4 }, () => randomBytes(32) as unknown as Uint8Array<ArrayBuffer>),
    name: '',
    type: '',
    ...fields
  })
}

/** how a hand-made payload request went */
interface Asked {
  /** the first frame back, if one came */
  answer?: PayloadAnswer
  /** bytes of the frames after the answer */
  bytes: number
  /** how the stream ended, when not cleanly */
  error?: string
}

/** a payload stream an attacker opened by hand, its first frame written */
interface Opened {
  stream: Stream
  frames: Frames
}

describe('mesh: hostile peers and large payloads', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []
  /** streams the attackers opened or hold */
  let held: Stream[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  afterEach(async () => {
    held.forEach(stream => { stream.abort(new Error('test over')) })
    held = []
    await stopNodes(nodes)
    nodes = []
  })

  /** `count` members (created with `init`) in room `name`, every pair direct */
  async function members (name: string, count: number, init: MeshNodeInit = {}): Promise<{ nodes: MeshNode[], rooms: Room[] }> {
    const created = await Promise.all(Array.from({ length: count }, async () => createMember(relay.wsAddr, init)))
    nodes.push(...created)
    const rooms = await Promise.all(created.map(async node => node.services.mesh.join(name)))
    await waitForFullMesh(rooms, created, 60_000)
    await waitForSettledStreams(rooms)
    return { nodes: created, rooms }
  }

  /** `from` opens a payload stream to `to` (on their direct connection when there is one) and writes `first` */
  async function open (from: MeshNode, to: MeshNode, first: Uint8Array): Promise<Opened> {
    const connections = from.getConnections(to.peerId).filter(c => c.status === 'open')
    const connection = connections.find(isDirect) ?? connections[0] ?? await from.dial(to.peerId, { signal: AbortSignal.timeout(10_000) })
    const stream = await connection.newStream(PAYLOAD_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
    held.push(stream)
    const frames = new Frames(stream, PAYLOAD_CHUNK + 1024)
    await frames.write([first])
    return { stream, frames }
  }

  /** reads what comes back on `opened` until the stream ends */
  async function drain (opened: Opened, timeout = 30_000): Promise<Asked> {
    const signal = AbortSignal.timeout(timeout)
    const asked: Asked = { bytes: 0 }

    try {
      asked.answer = PayloadAnswer.decode((await opened.frames.read({ signal })).subarray())

      while (true) {
        asked.bytes += (await opened.frames.read({ signal })).byteLength
      }
    } catch (err: any) {
      if (err.name !== 'StreamEndedError') {
        asked.error = err.name
      }
    } finally {
      void opened.stream.close().catch(() => {})
    }

    return asked
  }

  /** `from` sends `first` on a payload stream to `to` and reads all that comes back */
  async function ask (from: MeshNode, to: MeshNode, first: Uint8Array, timeout = 30_000): Promise<Asked> {
    let opened: Opened

    try {
      opened = await open(from, to, first)
    } catch (err: any) {
      return { bytes: 0, error: err.name }
    }

    return drain(opened, timeout)
  }

  /**
   * Replaces `node`'s payload handler with one that takes every stream and
   * never answers (a member that does not give what it is asked for).
   */
  async function silence (node: MeshNode): Promise<Stream[]> {
    const taken: Stream[] = []
    await node.unhandle(PAYLOAD_PROTOCOL)
    await node.handle(PAYLOAD_PROTOCOL, (stream: Stream) => {
      taken.push(stream)
      held.push(stream)
    }, { runOnLimitedConnection: true, maxInboundStreams: 256, maxOutboundStreams: 256 })
    return taken
  }

  /**
   * Members a and c that cannot connect (cut both ways), and b and d that
   * reach both: c fetches a's payloads through b or d, b first (b and c
   * joined first, so b comes first in c's members).
   */
  async function aroundForwarders (name: string): Promise<{ a: MeshNode, b: MeshNode, c: MeshNode, d: MeshNode, roomA: Room, roomB: Room, roomC: Room, roomD: Room }> {
    const [pa, pc] = await Promise.all([0, 1].map(async () => createPartitionable(relay.wsAddr)))
    const [b, d] = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    const [a, c] = [pa.node, pc.node]
    nodes.push(a, b, c, d)
    await pa.cut(c.peerId)
    await pc.cut(a.peerId)
    const [roomB, roomC] = await Promise.all([b, c].map(async node => node.services.mesh.join(name)))
    await waitForFullMesh([roomB, roomC], [b, c], 60_000)
    const [roomA, roomD] = await Promise.all([a, d].map(async node => node.services.mesh.join(name)))
    await until(() => [roomB, roomD].every(room => room.member(a.peerId)?.state === 'direct') &&
      [roomB, roomD].every(room => room.member(c.peerId)?.state === 'direct') && roomA.member(b.peerId)?.state === 'direct' &&
      roomC.member(a.peerId) != null, 'a and c to reach each other through b and d', 60_000)
    // c's own view too: while c still moves b from a relayed stream to a direct
    // one, c has no open stream with b for a moment and asks d first
    await until(() => [b, d].every(peer => roomC.member(peer.peerId)?.state === 'direct'), 'c to reach b and d directly', 60_000)
    await waitForSettledStreams([roomA, roomB, roomC, roomD])
    const order = impl(roomC).all().map(member => member.peerId).filter(peer => !peer.equals(a.peerId))
    expect(order[0].equals(b.peerId), 'setup: b is the member c asks first').to.be.true()
    return { a, b, c, d, roomA, roomB, roomC, roomD }
  }

  it('a peer that is not a member, or is a member of another room only, gets nothing of a payload: refused, reported, nothing sent', async () => {
    // property: serve() refuses an asker that is not a joined member of the room named (NotAMemberError, reported); a payload is
    // kept per room, so a member of another room that names that room gets "not held"; a room the node is not in is a
    // RoomNotJoinedError; no block is ever written, no stream slot stays taken, and the members still fetch it
    const { nodes: [a], rooms: [roomA, roomB] } = await members('payload-main', 2)
    const x = await createMember(relay.wsAddr)
    nodes.push(x)
    const [otherA, otherX] = await Promise.all([a.services.mesh.join('payload-other'), x.services.mesh.join('payload-other')])
    await waitForFullMesh([otherA, otherX], [a, x], 60_000)
    const refusedByA = rejections(a)
    const atB = inbox(roomB)
    const data = randomBytes(MiB + 17)
    await roomA.send(data)
    await until(() => atB.some(m => m.payload != null), 'b to get the manifest')
    const id = idOf(atB[0])
    const keyX = keyOf(otherX)
    const before = payloadState(roomA)

    // x names the room it is not in, with a's payload id and its own signature
    const notMember = await ask(x, a, await signedRequest({ room: impl(roomA).id, owner: a.peerId, id, requester: x.peerId }, keyX))
    expect(notMember.bytes, 'no block for a non-member').to.equal(0)
    expect(notMember.answer?.error).to.equal('not a member')
    await until(() => naming(refusedByA, x.peerId).some(r => r.startsWith('NotAMemberError')), 'a to report the non-member', 10_000, () => naming(refusedByA, x.peerId))

    // x names the room it shares with a: that room holds no such payload
    const otherRoom = await ask(x, a, await signedRequest({ room: impl(otherA).id, owner: a.peerId, id, requester: x.peerId }, keyX))
    expect(otherRoom.bytes, 'no block through another room').to.equal(0)
    expect(otherRoom.answer?.error).to.equal('not held')

    // x names a room a is not in at all
    const noRoom = await ask(x, a, await signedRequest({ room: randomBytes(32), owner: a.peerId, id, requester: x.peerId }, keyX))
    expect(noRoom.bytes, 'no block for a room a is not in').to.equal(0)
    await until(() => naming(refusedByA, x.peerId).some(r => r.startsWith('RoomNotJoinedError')), 'a to report the unknown room', 10_000, () => naming(refusedByA, x.peerId))

    expect(payloadState(roomA), 'a\'s payload state unchanged').to.deep.equal(before)
    expect(roomA.member(x.peerId), 'x did not become a member').to.equal(undefined)
    expect(sha256(await atB[0].payload!.bytes()), 'the member still gets it').to.equal(sha256(data))
  })

  it('a member cannot get a direct payload meant for another: not in its own name, not naming the recipient under its own signature, not through the recipient or another member', async () => {
    // property: give() hands a direct payload only to a request signed by its recipient; a request signed by one peer naming
    // another as requester is an InvalidSignatureError (reported against the asker, at the owner or at a forwarder); passing a
    // request on does not change who asks; no block reaches the thief, and the recipient still fetches it
    const { nodes: [a, b, c, d], rooms: [roomA, roomB, roomC] } = await members('payload-direct-theft', 4)
    const refusedByA = rejections(a)
    const refusedByC = rejections(c)
    const atC = directs(roomC)
    const atB = directs(roomB)
    const data = randomBytes(MiB + 5)
    await roomA.sendTo(c.peerId, data, { name: 'for-c.bin' })
    await until(() => atC.length === 1, 'c to get the manifest')
    const id = idOf(atC[0])
    const room = impl(roomA).id
    const keyB = keyOf(roomB)
    const own = async (): Promise<Uint8Array> => signedRequest({ room, owner: a.peerId, id, requester: b.peerId }, keyB)
    const forged = async (): Promise<Uint8Array> => signedRequest({ room, owner: a.peerId, id, requester: c.peerId }, keyB)

    const direct = await ask(b, a, await own())
    expect(direct.bytes, 'in its own name').to.equal(0)
    expect(direct.answer).to.deep.include({ error: 'not for this member', gone: true })

    const forgedDirect = await ask(b, a, await forged())
    expect(forgedDirect.bytes, 'naming the recipient, signed by the thief').to.equal(0)
    expect(forgedDirect.answer?.error, 'no answer to a forged request but a reset').to.equal(undefined)
    await until(() => naming(refusedByA, b.peerId).some(r => r.startsWith('InvalidSignatureError')), 'a to report the forged request', 10_000, () => naming(refusedByA, b.peerId))

    // the recipient itself, asked to pass b's requests on
    const throughRecipient = await ask(b, c, await own())
    expect(throughRecipient.bytes, 'through the recipient').to.equal(0)
    expect(throughRecipient.answer?.error).to.equal('not for this member')
    const forgedThroughRecipient = await ask(b, c, await forged())
    expect(forgedThroughRecipient.bytes, 'forged, through the recipient').to.equal(0)
    await until(() => naming(refusedByC, b.peerId).some(r => r.startsWith('InvalidSignatureError')), 'c to report the forged request', 10_000, () => naming(refusedByC, b.peerId))

    // another member, asked to pass b's request on
    const throughD = await ask(b, d, await own())
    expect(throughD.bytes, 'through another member').to.equal(0)
    expect(throughD.answer?.error).to.equal('not for this member')

    expect(atB, 'b never got the payload as a direct message').to.be.empty()
    expect(naming(refusedByA, c.peerId), 'the recipient is not blamed').to.be.empty()
    expect(sha256(await atC[0].payload!.bytes()), 'the recipient still gets it').to.equal(sha256(data))
    await until(() => payloadState(roomA).open === 0, 'a\'s streams to be released', 10_000, () => payloadState(roomA))
    expect(payloadState(roomA).streams).to.deep.equal({})
  })

  it('a signed request is used once: a member that passed the recipient\'s request on cannot replay it to the owner to get the direct payload for itself', async () => {
    // property (project rule: replayed input is refused): a PayloadRequest is bound to one use; today it is a bearer token for
    // PAYLOAD_REQUEST_MAX_AGE: whoever holds the bytes (every member that passes a fetch on) can send them again on its own
    // stream and the owner serves the whole payload to it again, although the request names another member
    const parts = await Promise.all([0, 1, 2].map(async () => createPartitionable(relay.wsAddr)))
    const [a, b, c] = parts.map(p => p.node)
    nodes.push(a, b, c)
    await parts[0].cut(c.peerId)
    await parts[2].cut(a.peerId)
    const [roomA, roomB, roomC] = await Promise.all([a, b, c].map(async node => node.services.mesh.join('payload-replay')))
    await until(() => roomA.member(b.peerId)?.state === 'direct' && roomC.member(b.peerId)?.state === 'direct' &&
      roomA.member(c.peerId) != null && roomC.member(a.peerId) != null, 'a and c to reach each other through b', 60_000)
    const refusedByA = rejections(a)

    // b passes on honestly, keeping a copy of each request it passes
    const passed: Uint8Array[] = []
    const payloadsB = impl(roomB).payloads as any
    const passOn = payloadsB.passOn.bind(payloadsB)
    payloadsB.passOn = async (frames: Frames, request: { bytes: Uint8Array }, signal: AbortSignal) => {
      passed.push(request.bytes)
      return passOn(frames, request, signal)
    }

    const atC = directs(roomC)
    const data = randomBytes(MiB + 99)
    await roomA.sendTo(c.peerId, data)
    await until(() => atC.length === 1, 'c to get the manifest')
    expect(sha256(await atC[0].payload!.bytes()), 'c fetched it through b').to.equal(sha256(data))
    expect(passed, 'b passed c\'s request on').to.have.lengthOf(1)

    // well within PAYLOAD_REQUEST_MAX_AGE, b sends c's signed request again, on its own stream to a
    const replayed = await ask(b, a, passed[0])
    expect(replayed.bytes, `a gave ${replayed.bytes} bytes of c's direct payload to b for a request it had already served (replayed ${PAYLOAD_REQUEST_MAX_AGE} ms window)`).to.equal(0)
    expect(naming(refusedByA, b.peerId).length, 'the replay is reported').to.be.greaterThan(0)
  })

  it('malformed, unsigned, forged, stale, future-dated, oversized and out-of-range requests get no block, are reported with typed errors, and change nothing', async () => {
    // property: answerPayloadRequest bounds the first frame (2048 bytes), refuses what does not decode, is not signed by its
    // requester, or is dated outside PAYLOAD_REQUEST_MAX_AGE / the clock skew, each with a typed error reported against the asker;
    // a from_block past the end yields no block; no stream slot or kept payload changes, and the member can still fetch
    const { nodes: [a, m], rooms: [roomA, roomM] } = await members('payload-malformed', 2)
    const refusedByA = rejections(a)
    const atM = inbox(roomM)
    const data = randomBytes(MiB)
    await roomA.send(data)
    await until(() => atM.some(msg => msg.payload != null), 'm to get the manifest')
    const id = idOf(atM[0])
    const keyM = keyOf(roomM)
    const stranger = await generateKeyPair('Ed25519')
    const room = impl(roomA).id
    const valid = { room, owner: a.peerId, id, requester: m.peerId }
    const before = payloadState(roomA)
    const body = PayloadRequest.encode({ room: room as Uint8Array<ArrayBuffer>, owner: a.peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>, id, requester: m.peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>, timestamp: BigInt(Date.now()), nonce: randomBytes(16) as unknown as Uint8Array<ArrayBuffer> })

    const cases: Array<{ name: string, first: Uint8Array, error?: string }> = [
      { name: 'garbage', first: encode('not a payload request at all, just bytes'), error: 'InvalidMessageError' },
      { name: 'unsigned', first: SignedPayloadRequest.encode({ request: body, signature: new Uint8Array(0) }), error: 'InvalidSignatureError' },
      { name: 'signed by a stranger', first: await signedRequest(valid, stranger), error: 'InvalidSignatureError' },
      { name: 'a requester that is no peer id', first: SignedPayloadRequest.encode({ request: PayloadRequest.encode({ room: room as Uint8Array<ArrayBuffer>, owner: a.peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>, id, requester: randomBytes(20) as unknown as Uint8Array<ArrayBuffer>, timestamp: BigInt(Date.now()) }), signature: randomBytes(64) as unknown as Uint8Array<ArrayBuffer> }), error: 'InvalidMessageError' },
      { name: 'stale', first: await signedRequest({ ...valid, timestamp: Date.now() - 2 * PAYLOAD_REQUEST_MAX_AGE }, keyM), error: 'StaleRecordError' },
      { name: 'future-dated', first: await signedRequest({ ...valid, timestamp: Date.now() + 3_600_000 }, keyM), error: 'StaleRecordError' },
      // the first frame is at most 2048 bytes: a longer one is refused by its length, one whose length takes more bytes than 2048's by its prefix
      { name: 'a first frame of 3000 bytes', first: new Uint8Array(3000), error: 'MessageTooLargeError' },
      { name: 'an enormous first frame', first: new Uint8Array(100 * KiB), error: 'InvalidMessageError' },
      { name: 'from_block past the end', first: await signedRequest({ ...valid, fromBlock: 10 }, keyM) },
      { name: 'from_block 2^32 - 1', first: await signedRequest({ ...valid, fromBlock: 2 ** 32 - 1 }, keyM) }
    ]

    for (const { name, first, error } of cases) {
      const reported = naming(refusedByA, m.peerId).length
      const asked = await ask(m, a, first)
      expect(asked.bytes, `${name}: no block`).to.equal(0)

      if (error != null) {
        expect(asked.answer, `${name}: no answer`).to.equal(undefined)
        await until(() => naming(refusedByA, m.peerId).slice(reported).some(r => r.startsWith(`${error}:`)), `a to report ${name} as ${error}`, 10_000, () => naming(refusedByA, m.peerId).slice(reported))
      }
    }

    await until(() => payloadState(roomA).open === 0, 'a\'s streams to be released', 10_000, () => payloadState(roomA))
    expect(payloadState(roomA), 'a\'s payload state unchanged').to.deep.equal(before)
    expect(sha256(await atM[0].payload!.bytes()), 'm can still fetch it').to.equal(sha256(data))
  })

  it('a forwarder that alters the blocks it passes on: the receiver never yields altered bytes, blames no honest member, and completes through another member', async () => {
    // property: every block is checked against the signed manifest before read() yields it; a mismatch found on a route through
    // a member is not reported (the sender or the member may be at fault: the sender is reported when its own blocks do not
    // match), and the fetch resumes where it stopped through another member
    const { a, c, d, roomA, roomB, roomC } = await aroundForwarders('payload-forwarder')
    const refusedByC = rejections(c)

    // b passes requests on like an honest member, but flips a byte of the second frame of block 1 (block 0 arrives intact)
    let altered = 0
    const payloadsB = impl(roomB).payloads as any
    payloadsB.passOn = async (frames: Frames, request: { owner: PeerId, bytes: Uint8Array }) => {
      const owner = impl(roomB).getMember(request.owner)!
      const stream = await owner.session!.connection.newStream(PAYLOAD_PROTOCOL, { runOnLimitedConnection: true })
      const upstream = new Frames(stream, PAYLOAD_CHUNK + 1024)

      try {
        await upstream.write([request.bytes])
        let n = 0

        while (true) {
          let frame: Uint8Array

          try {
            frame = (await upstream.read()).subarray()
          } catch (err: any) {
            if (err.name === 'StreamEndedError') {
              return
            }

            throw err
          }

          // frame 0 is the answer, frames 1-4 block 0, frame 6 is in block 1
          if (n++ === 6) {
            frame = frame.slice()
            frame[100] ^= 0xff
            altered++
          }

          await frames.write([frame])
        }
      } finally {
        void stream.close().catch(err => { stream.abort(err) })
      }
    }

    const atC = inbox(roomC)
    const data = randomBytes(2 * MiB + 1000)
    await roomA.send(data)
    await until(() => atC.some(m => m.payload != null), 'c to get the manifest')
    const blocks: Uint8Array[] = []

    for await (const block of atC[0].payload!.read()) {
      blocks.push(block.slice())
    }

    expect(altered, 'c fetched through b, which altered a block').to.be.at.least(1)
    let offset = 0

    for (const [i, block] of blocks.entries()) {
      expect(sha256(block), `block ${i} as sent`).to.equal(sha256(data.subarray(offset, offset + block.byteLength)))
      offset += block.byteLength
    }

    expect(offset, 'all of it, through d').to.equal(data.byteLength)
    expect(naming(refusedByC, d.peerId), 'the honest forwarder is not blamed').to.be.empty()
    expect(naming(refusedByC, a.peerId), 'nor the sender').to.be.empty()
  })

  it('a forwarder that passes a byte at a time, slowly: the receiver gives that route up and completes through another member', async () => {
    // property: a hostile route cannot hold a fetch forever: PAYLOAD_STALL_TIMEOUT (10 s) is meant to take a fetch elsewhere when
    // a member stops answering, but it is re-armed by every frame, however small; a forwarder that passes one byte every 500 ms
    // keeps the fetch on it (a 256 KiB block would take 36 hours) while an honest member could give it at once
    const { a, c, roomA, roomB, roomC } = await aroundForwarders('payload-drip')
    let dripping = 0
    const drip = { stopped: false }
    const payloadsB = impl(roomB).payloads as any
    payloadsB.passOn = async (frames: Frames, request: { owner: PeerId, bytes: Uint8Array }) => {
      const owner = impl(roomB).getMember(request.owner)!
      const stream = await owner.session!.connection.newStream(PAYLOAD_PROTOCOL, { runOnLimitedConnection: true })
      const upstream = new Frames(stream, PAYLOAD_CHUNK + 1024)

      try {
        await upstream.write([request.bytes])
        await frames.write([(await upstream.read()).subarray()])
        const first = (await upstream.read()).subarray()
        dripping++

        for (let i = 0; i < first.byteLength && !drip.stopped; i++) {
          await frames.write([first.subarray(i, i + 1)])
          await delay(500)
        }
      } finally {
        stream.abort(new Error('dripped'))
      }
    }

    try {
      const atC = inbox(roomC)
      const data = randomBytes(MiB + 7)
      await roomA.send(data)
      await until(() => atC.some(m => m.payload != null), 'c to get the manifest')
      const fetched = await atC[0].payload!.bytes({ signal: AbortSignal.timeout(60_000) }).catch((err: Error) => err)
      expect(dripping, 'c asked b first').to.be.at.least(1)
      expect(fetched instanceof Uint8Array ? sha256(fetched) : `${fetched.name}: ${fetched.message}`,
        'c fetches it within 60 s (6 x PAYLOAD_STALL_TIMEOUT) through d, not stuck on b dripping a byte every 500 ms').to.equal(sha256(data))
      expect(c.getConnections(a.peerId)).to.be.empty()
    } finally {
      drip.stopped = true
    }
  })

  it('a sender whose blocks do not match its signed manifest: the receiver yields only the blocks that match, fails with CorruptPayloadError and reports the sender', async () => {
    // property: read() never yields a block that does not match the manifest; a sender whose own blocks are wrong is refused
    // with a typed error (CorruptPayloadError, after bounded retries) that is reported against it
    const { nodes: [m, a], rooms: [roomM, roomA] } = await members('payload-lying-sender', 2)
    const refusedByA = rejections(a)
    const atA = directs(roomA)
    const original = randomBytes(MiB + 3)
    const source = new Uint8Array(original)
    await roomM.sendTo(a.peerId, source)
    await until(() => atA.length === 1, 'a to get the manifest')
    // the sender's bytes change after it signed their hashes: block 2 no longer matches
    source[2 * MIN_PAYLOAD_BLOCK + 5] ^= 0xff

    const yielded: Uint8Array[] = []
    let failure: Error | undefined

    try {
      for await (const block of atA[0].payload!.read()) {
        yielded.push(block.slice())
      }
    } catch (err: any) {
      failure = err
    }

    expect(failure?.name, 'a typed refusal').to.equal('CorruptPayloadError')
    expect(yielded, 'blocks 0 and 1 only').to.have.lengthOf(2)
    yielded.forEach((block, i) => {
      expect(sha256(block), `block ${i}`).to.equal(sha256(original.subarray(i * MIN_PAYLOAD_BLOCK, (i + 1) * MIN_PAYLOAD_BLOCK)))
    })
    expect(naming(refusedByA, m.peerId).some(r => r.startsWith('CorruptPayloadError')), `a reports the sender (reported: ${JSON.stringify(refusedByA.map(r => r.error.name))})`).to.be.true()
  })

  it('manifests that do not add up, in a room message batch or a direct note, are refused with typed errors and nothing is delivered', async () => {
    // property: Messaging.check and RoomNotes.receive check a manifest before anything is taken: a bad block size, a hash count
    // that does not match the size, a payload index the batch does not hold, a malformed manifest in
    // a direct note are typed refusals reported against the sender; no message or direct event, the sender's numbering at the
    // victim unchanged (its next honest message and payload arrive as usual)
    const { nodes: [a, m], rooms: [roomA, roomM] } = await members('payload-bad-manifest', 2, { mesh: { maxPayloadSize: 4 * MiB, reconnectMax: 2000 } })
    const refusedByA = rejections(a)
    const atA = inbox(roomA)
    const directAtA = directs(roomA)
    const keyM = keyOf(roomM)
    const { epoch, seq } = impl(roomM).messaging.numbering
    const batch = async (data: Uint8Array, payloads: number[]): Promise<Uint8Array<ArrayBuffer>> => {
      const sealed = await sealRoomBatch({ sender: m.peerId, room: impl(roomM).id, epoch, firstSeq: seq + 1, timestamp: Date.now(), data: [data], payloads }, new Signer(keyM))
      return sealed.bytes
    }
    const directNote = async (data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> => {
      const sealed = await sealRoomNote({ room: impl(roomM).id, sender: m.peerId, kind: 'direct', recipient: a.peerId, timestamp: Date.now(), id: randomBytes(16), data, payload: true }, new Signer(keyM))
      return sealed.bytes
    }

    const cases: Array<{ name: string, frame(): Promise<{ message?: Uint8Array<ArrayBuffer>, note?: Uint8Array<ArrayBuffer> }>, error: string }> = [
      { name: 'a block size that is no power of two', frame: async () => ({ message: await batch(manifestBytes({ blockSize: 300_000, hashes: Array.from({ length: 4 }, () => randomBytes(32) as unknown as Uint8Array<ArrayBuffer>) }), [0]) }), error: 'InvalidMessageError' },
      { name: 'a block size below the smallest', frame: async () => ({ message: await batch(manifestBytes({ blockSize: 1024, size: 4096n, hashes: Array.from({ length: 4 }, () => randomBytes(32) as unknown as Uint8Array<ArrayBuffer>) }), [0]) }), error: 'InvalidMessageError' },
      { name: 'three hashes for four blocks', frame: async () => ({ message: await batch(manifestBytes({ hashes: Array.from({ length: 3 }, () => randomBytes(32) as unknown as Uint8Array<ArrayBuffer>) }), [0]) }), error: 'InvalidMessageError' },
      { name: 'a payload index the batch does not hold', frame: async () => ({ message: await batch(manifestBytes(), [3]) }), error: 'InvalidMessageError' },
      { name: 'not a manifest at all', frame: async () => ({ message: await batch(encode('plain text marked as a payload'), [0]) }), error: 'InvalidMessageError' },
      { name: 'a direct note whose manifest id is 5 bytes', frame: async () => ({ note: await directNote(manifestBytes({ id: randomBytes(5) as unknown as Uint8Array<ArrayBuffer> })) }), error: 'InvalidMessageError' }
    ]

    for (const { name, frame, error } of cases) {
      await until(() => sessionOf(roomM, a.peerId) != null && sessionOf(roomA, m.peerId) != null, `a stream between m and a before "${name}"`, 60_000)
      const reported = refusedByA.length
      await sessionOf(roomM, a.peerId)!.send(await frame())
      await until(() => refusedByA.length > reported, `a to refuse "${name}"`, 20_000, () => naming(refusedByA, m.peerId))
      expect(naming(refusedByA, m.peerId).at(-1), name).to.match(new RegExp(`^${error}:`))
    }

    expect(atA, 'no message taken').to.be.empty()
    expect(directAtA, 'no direct message taken').to.be.empty()

    // m's next honest message takes the seq the refused batches had; its honest payload arrives and is fetched
    await until(() => sessionOf(roomM, a.peerId) != null && sessionOf(roomA, m.peerId) != null, 'a stream between m and a', 60_000)
    const data = randomBytes(MiB)
    await roomM.send(encode('honest'))
    await roomM.send(data)
    await until(() => atA.length === 2, 'm\'s honest messages', 30_000)
    expect(atA[0].seq, 'the seq the refused batches had').to.equal(seq + 1)
    expect(sha256(await atA[1].payload!.bytes())).to.equal(sha256(data))
  })

  it(`a member holding more than MAX_PAYLOAD_STREAMS_PER_MEMBER (${MAX_PAYLOAD_STREAMS_PER_MEMBER}) payload streams: the rest answered busy at once, honest members still fetch`, async () => {
    // property: serve() counts the payload streams of each member (here, fetches m asks a to pass on to s, which never
    // answers, so they stay open until a's stall timeout); past MAX_PAYLOAD_STREAMS_PER_MEMBER a stream is answered "busy" (not gone) and nothing is passed
    // on; another member's fetch is not held up; once m's streams end, a's count is back to zero
    const { nodes: [a, m, , s], rooms: [roomA, roomM, roomB] } = await members('payload-busy', 4)
    const silent = await silence(s)
    const keyM = keyOf(roomM)
    const room = impl(roomA).id
    const request = async (): Promise<Uint8Array> => signedRequest({ room, owner: s.peerId, id: randomBytes(16), requester: m.peerId }, keyM)

    const holding = await Promise.all(Array.from({ length: MAX_PAYLOAD_STREAMS_PER_MEMBER }, async () => open(m, a, await request())))
    await until(() => payloadState(roomA).streams[m.peerId.toString()] === MAX_PAYLOAD_STREAMS_PER_MEMBER && silent.length === MAX_PAYLOAD_STREAMS_PER_MEMBER,
      'a to pass m\'s requests on', 20_000, () => ({ a: payloadState(roomA), silent: silent.length }))

    const extra = await Promise.all([0, 1].map(async () => ask(m, a, await request(), 10_000)))
    extra.forEach((asked, i) => {
      expect(asked.answer, `stream ${MAX_PAYLOAD_STREAMS_PER_MEMBER + i + 1}: busy`).to.deep.include({ error: 'busy', gone: false })
      expect(asked.bytes).to.equal(0)
    })
    expect(silent, 'nothing more passed on').to.have.lengthOf(MAX_PAYLOAD_STREAMS_PER_MEMBER)

    // b is not held up by m
    const atB = inbox(roomB)
    const data = randomBytes(MiB + 1)
    await roomA.send(data)
    await until(() => atB.some(msg => msg.payload != null), 'b to get the manifest')
    expect(sha256(await atB[0].payload!.bytes()), 'b fetches while m holds its streams').to.equal(sha256(data))

    // m's silent answers end: a's passed-on fetches end with them
    silent.forEach(stream => { stream.abort(new Error('m gives up')) })
    holding.forEach(({ stream }) => { stream.abort(new Error('m gives up')) })
    await until(() => payloadState(roomA).open === 0 && Object.keys(payloadState(roomA).streams).length === 0, 'a\'s count back to zero', 20_000, () => payloadState(roomA))
  })

  it('a member that gives up its fetches and leaves the room holds no payload stream at a member that passed them on', async () => {
    // property (every map keyed by remote input has a pruning rule): RoomPayloads.streams and open count a member's streams
    // while they run; when the member aborts its streams and leaves, its entry goes and its slots are free, even when the
    // member they were passed on to never answers (passOn waits on the upstream only: no stall timeout, the asker's end unwatched)
    const { nodes: [a, m, s], rooms: [roomA, roomM] } = await members('payload-leaver', 3)
    const silent = await silence(s)
    const keyM = keyOf(roomM)
    const room = impl(roomA).id
    const holding = await Promise.all(Array.from({ length: MAX_PAYLOAD_STREAMS_PER_MEMBER }, async () =>
      open(m, a, await signedRequest({ room, owner: s.peerId, id: randomBytes(16), requester: m.peerId }, keyM))))
    await until(() => payloadState(roomA).streams[m.peerId.toString()] === MAX_PAYLOAD_STREAMS_PER_MEMBER && silent.length === MAX_PAYLOAD_STREAMS_PER_MEMBER,
      'a to pass m\'s requests on', 20_000, () => ({ a: payloadState(roomA), silent: silent.length }))

    // m gives up its fetches and leaves; it keeps the streams a opened to it (without a word)
    holding.forEach(({ stream }) => { stream.abort(new Error('m gives up')) })
    await roomM.leave()
    await until(() => roomA.member(m.peerId) == null, 'a to see m leave', 20_000)

    await until(() => payloadState(roomA).streams[m.peerId.toString()] == null && payloadState(roomA).open === 0,
      'a to drop the payload streams of m, which left', 20_000, () => ({ a: payloadState(roomA), connections: a.getConnections(m.peerId).map(c => c.status) }))
  })

  it('a member asking for the same payload again and again: the sender\'s work for it is bounded and the excess refused', async () => {
    // property (project rule: sizes, counts and rates bounded per peer): a member that asks for the whole payload back to back
    // gets at most PAYLOAD_REQUESTS_PER_MINUTE answers a minute; the rest are refused, and reported (RateLimitError) against it
    const { nodes: [a, m], rooms: [roomA, roomM] } = await members('payload-again', 2)
    const refusedByA = rejections(a)
    const atM = inbox(roomM)
    const data = randomBytes(64 * KiB)
    await roomA.send(data, { name: 'small' })
    await until(() => atM.some(msg => msg.payload != null), 'm to get the manifest')
    const id = idOf(atM[0])
    const keyM = keyOf(roomM)
    const asks = PAYLOAD_REQUESTS_PER_MINUTE + 8
    let served = 0
    let refused = 0
    // an ask ends with a refusal, a whole copy, or an error (a reset stream);
    // never cleanly without its answer. It once did, in about 1 of 16 runs
    // of this file: the remote's reset read as a clean end, in Frames (a
    // reset dispatches 'end' before its error) and in the WebRTC stream
    // (the data channel's close overtook the RESET still in its decoder)
    for (let i = 0; i < asks; i++) {
      const asked = await ask(m, a, await signedRequest({ room: impl(roomA).id, owner: a.peerId, id, requester: m.peerId }, keyM))
      served += asked.bytes
      expect(asked.answer?.error != null || asked.error != null || asked.bytes === data.byteLength, `ask ${i} ended cleanly with ${asked.bytes} bytes and no refusal`).to.be.true()

      if (asked.answer?.error != null || asked.error != null) {
        refused++
      }
    }

    expect(served, `a sent ${served / data.byteLength} whole copies to m for ${asks} requests back to back (${refused} refused)`).to.be.at.most(PAYLOAD_REQUESTS_PER_MINUTE * data.byteLength)
    expect(refused).to.be.at.least(asks - PAYLOAD_REQUESTS_PER_MINUTE)
    expect(naming(refusedByA, m.peerId).some(r => r.startsWith('RateLimitError')), 'the excess is reported').to.be.true()
  })
})
