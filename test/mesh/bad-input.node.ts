import '../fixtures/datachannel-cleanup.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { MEMBER_RECORD_CODEC, MEMBER_RECORD_DOMAIN, initialSeq, sealMemberRecord } from '../../src/envelope/index.ts'
import { MemberRecord as MemberRecordMessage } from '../../src/envelope/pb/member-record.ts'
import { MeshMessage } from '../../src/mesh/pb/mesh.ts'
import { stopNodes, waitForCircuitAddress } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createMember, waitForFullMesh } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { RejectedMessage, Room } from '../../src/index.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { PrivateKey, Record, Stream } from '@libp2p/interface'

const PROTOCOL = '/relaymesh/mesh/2.0.0'
const ROOM = 'bad-input'

/** a record with any fields, signed by `key` */
async function sealRaw (fields: Partial<MemberRecordMessage>, key: PrivateKey): Promise<Uint8Array> {
  const bytes = MemberRecordMessage.encode(fields)
  const record: Record = { domain: MEMBER_RECORD_DOMAIN, codec: MEMBER_RECORD_CODEC, marshal: () => bytes, equals: () => false }
  return (await RecordEnvelope.seal(record, key)).marshal()
}

describe('mesh: bad input on the room protocol', function () {
  this.timeout(120_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []
  let a: MeshNode
  let b: MeshNode
  let attacker: MeshNode
  let attackerKey: PrivateKey
  let room: Room

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
    attackerKey = await generateKeyPair('Ed25519')
    ;[a, b, attacker] = nodes = await Promise.all([
      createMember(relay.wsAddr),
      createMember(relay.wsAddr),
      createMember(relay.wsAddr, { privateKey: attackerKey })
    ])
    const rooms = await Promise.all([a, b].map(async node => node.services.mesh.join(ROOM)))
    room = rooms[0]
    await waitForFullMesh(rooms, [a, b])
  })

  after(async () => {
    await stopNodes(nodes)
    await relay?.stop('SIGKILL')
  })

  /** a new room stream from the attacker to `a`, over the relay */
  async function openStream (): Promise<Stream> {
    // one relayed connection for all attacks (libp2p does not reuse limited ones by itself)
    let connection = attacker.getConnections(a.peerId).find(conn => conn.status === 'open')

    if (connection == null) {
      const addr = await waitForCircuitAddress(a)
      connection = await attacker.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
    }

    return connection.newStream(PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
  }

  /**
   * What `a` knows of the room that an attack could change, to compare
   * before and after: the members, their states and the attacker's
   * addresses. b's addresses are left out: b re-signs its record when its
   * addresses change (after its reservation, 1 s debounced), which on a busy
   * machine can arrive in the middle of a check.
   */
  function snapshot (): string {
    return room.members.map(m => `${m.peerId} ${m.state} ${m.peerId.equals(b.peerId) ? '' : m.multiaddrs.map(String).join(',')}`).sort().join('\n')
  }

  /**
   * Sends `bytes` (already framed) on a new stream and returns the rejection
   * `a` reports; `a`'s view of the room must not change and the stream must
   * be closed by `a`.
   */
  async function expectRejected (frame: (stream: Stream) => Promise<void>, name: string): Promise<RejectedMessage> {
    const before = snapshot()
    const stream = await openStream()
    const rejected = pEvent<'mesh:message-rejected', CustomEvent<RejectedMessage>>(a.services.mesh, 'mesh:message-rejected', { timeout: 10_000 })
    await frame(stream)
    const { detail } = await rejected

    expect(detail.error.name, detail.error.message).to.equal(name)
    expect(detail.remotePeer.toString()).to.equal(attacker.peerId.toString())
    await pWaitFor(() => stream.status !== 'open' || stream.readStatus !== 'readable', { timeout: 10_000 })
    expect(snapshot()).to.equal(before)
    expect(room.member(b.peerId)?.state).to.equal('direct')

    return detail
  }

  async function sendRecord (stream: Stream, record: Uint8Array): Promise<void> {
    await lpStream(stream).write(MeshMessage.encode({ record: record as Uint8Array<ArrayBuffer> }))
  }

  it('refuses garbage bytes', async () => {
    await expectRejected(async stream => {
      await lpStream(stream).write(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]))
    }, 'InvalidMessageError')
  })

  it('refuses an oversize message', async () => {
    await expectRejected(async stream => {
      await lpStream(stream).write(new Uint8Array(64 * 1024))
    }, 'MessageTooLargeError')
  })

  it('refuses a forged signature', async () => {
    const sealed = await sealMemberRecord({ room: ROOM, seq: initialSeq() }, attackerKey)
    const envelope = RecordEnvelope.createFromProtobuf(sealed.envelope)
    const signature = envelope.signature.slice()
    signature[0] ^= 0xff
    const forged = new RecordEnvelope({ ...envelope, signature }).marshal()

    await expectRejected(async stream => { await sendRecord(stream, forged) }, 'InvalidSignatureError')
  })

  it('refuses a record signed by another peer than the one it names', async () => {
    // the attacker claims to be b
    const claim = await sealRaw({
      room: ROOM,
      peerId: b.peerId.toMultihash().bytes,
      seq: initialSeq() * 2n,
      timestamp: BigInt(Date.now()),
      multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/1').bytes]
    }, attackerKey)

    await expectRejected(async stream => { await sendRecord(stream, claim) }, 'WrongSignerError')
  })

  it('refuses a record of another room', async () => {
    const other = await sealMemberRecord({ room: 'another-room', seq: initialSeq() }, attackerKey)

    await expectRejected(async stream => { await sendRecord(stream, other.envelope) }, 'RoomNotJoinedError')
  })

  it('refuses a replayed older record and keeps the newer one', async () => {
    const seq = initialSeq()
    const older = await sealMemberRecord({ room: ROOM, seq, multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/1111')] }, attackerKey)
    const newer = await sealMemberRecord({ room: ROOM, seq: seq + 1n, multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/2222')] }, attackerKey)

    // the attacker joins properly with its newer record...
    const first = await openStream()
    await sendRecord(first, newer.envelope)
    await pWaitFor(() => room.member(peerIdFromPrivateKey(attackerKey)) != null, { timeout: 10_000 })
    expect(room.member(attacker.peerId)?.multiaddrs.map(String)).to.deep.equal(['/ip4/127.0.0.1/tcp/2222'])

    // ...then replays its older one
    await expectRejected(async stream => { await sendRecord(stream, older.envelope) }, 'ReplayedRecordError')
    expect(room.member(attacker.peerId)?.multiaddrs.map(String)).to.deep.equal(['/ip4/127.0.0.1/tcp/2222'])
    first.abort(new Error('done'))
  })

  it('keeps serving the room afterwards: a new member joins and goes direct', async () => {
    const c = await createMember(relay.wsAddr)
    nodes.push(c)
    const roomC = await c.services.mesh.join(ROOM)
    const roomB = b.services.mesh.rooms[0]
    await waitForFullMesh([room, roomB, roomC], [a, b, c])
  })
})

describe('mesh: roster rooms', function () {
  this.timeout(120_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
  })

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  it('ignores a peer that is not on the roster', async () => {
    const [a, b, outsider] = nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const roster = [a.peerId, b.peerId]
    const rejections: RejectedMessage[] = []
    a.services.mesh.addEventListener('mesh:message-rejected', (evt) => { rejections.push(evt.detail) })

    const roomA = await a.services.mesh.join('signers', { roster, threshold: 2 })
    const roomB = await b.services.mesh.join('signers', { roster: roster.map(String), threshold: 2 })
    // the outsider uses the same name, so it finds the members in the DHT and dials them
    const roomOutsider = await outsider.services.mesh.join('signers')
    await waitForFullMesh([roomA, roomB], [a, b])

    await pWaitFor(() => rejections.some(r => r.remotePeer.equals(outsider.peerId)), { timeout: 30_000 })
    const rejection = rejections.find(r => r.remotePeer.equals(outsider.peerId))
    expect(rejection?.error.name).to.equal('NotOnRosterError')
    expect(roomA.members.map(m => m.peerId.toString())).to.deep.equal([b.peerId.toString()])
    expect(roomB.member(outsider.peerId)).to.be.undefined()
    expect(roomOutsider.members.filter(m => m.state === 'direct' || m.state === 'relayed')).to.be.empty()
    expect(roomA.threshold).to.equal(2)
  })

  it('refuses to join a roster room this node is not on', async () => {
    const [a, b] = nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    await expect(a.services.mesh.join('others', { roster: [b.peerId] })).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
  })
})
