import '../fixtures/datachannel-cleanup.ts'
import { setTimeout as delay } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { MemoryDatastore } from 'datastore-core'
import { initialSeq, sealMemberRecord, sealReplayRequest } from '../../src/envelope/index.ts'
import { Frames } from '../../src/mesh/frames.ts'
import { streamKey } from '../../src/mesh/messages/log.ts'
import { MeshMessage } from '../../src/mesh/pb/mesh.ts'
import { ReplayFrame } from '../../src/mesh/pb/replay.ts'
import { RoomSecret } from '../../src/mesh/room-secret.ts'
import { stopNodes, waitForCircuitAddress } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { collect, createMember, createPartitionable, impl, inbox, presenceOf, rejections, until, waitForFullMesh } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { DirectMessage, EphemeralMessage } from '../../src/index.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Connection, PrivateKey, Stream } from '@libp2p/interface'

const ROOM_PROTOCOL = '/relaymesh/mesh/2.0.0'
const REPLAY_PROTOCOL = '/relaymesh/mesh-replay/2.0.0'
const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const decode = (data: Uint8Array): string => new TextDecoder().decode(data)

/** whether `needle` occurs in `haystack` */
function contains (haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(needle) !== -1
}

/**
 * Everything members of this process write to room and payload streams
 * (each frame as written), until `restore()`.
 */
function tapFrames (): { frames: Uint8Array[], restore(): void } {
  const frames: Uint8Array[] = []
  const write = Frames.prototype.write
  Frames.prototype.write = async function (this: Frames, list, options) {
    list.forEach(frame => frames.push(frame.slice()))
    return write.call(this, list, options)
  }

  return { frames, restore: () => { Frames.prototype.write = write } }
}

/** every value a datastore holds */
async function storedValues (datastore: MemoryDatastore): Promise<Uint8Array[]> {
  const values: Uint8Array[] = []

  for await (const { value } of datastore.query({})) {
    values.push(value)
  }

  return values
}

/** asks for a replay of room `tag` on `connection`, signed with `key`; what the refusal says */
async function askReplay (connection: Connection, tag: string, key: PrivateKey): Promise<string | undefined> {
  const stream = await connection.newStream(REPLAY_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
  const lp = lpStream(stream)
  await lp.write(ReplayFrame.encode({ request: await sealReplayRequest({ room: tag }, key) as Uint8Array<ArrayBuffer> }))
  const answer = ReplayFrame.decode((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
  stream.abort(new Error('done'))
  return answer.refused
}

/** reads what comes back on `stream` for `ms`: the frames, and whether it ended */
async function drain (stream: Stream, ms: number): Promise<{ frames: number, ended: boolean }> {
  const lp = lpStream(stream)
  let frames = 0

  try {
    const signal = AbortSignal.timeout(ms)

    while (true) {
      await lp.read({ signal })
      frames++
    }
  } catch (err: any) {
    return { frames, ended: err.name !== 'TimeoutError' && err.name !== 'AbortError' }
  }
}

describe('mesh: private rooms', function () {
  this.timeout(120_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
  })

  it('members with the secret get messages, presence, ephemeral and direct messages, requests and payloads, also passed on by a member; none of it leaves a member or reaches its datastore in plaintext', async () => {
    const datastores = [0, 1, 2].map(() => new MemoryDatastore())
    const [pa, pc] = await Promise.all([0, 2].map(async i => createPartitionable(relay.wsAddr, { datastore: datastores[i], mesh: { persist: true } })))
    const b = await createMember(relay.wsAddr, { datastore: datastores[1], mesh: { persist: true } })
    nodes = [pa.node, b, pc.node]
    const [a, , c] = nodes
    // a and c never connect: b passes everything on between them
    await pa.cut(c.peerId)
    await pc.cut(a.peerId)
    const secret = 'correct horse battery staple'
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('vault-all', { secret })))
    expect(rooms.every(room => room.isPrivate)).to.be.true()
    await until(() => rooms[0].member(b.peerId)?.state === 'direct' && rooms[2].member(b.peerId)?.state === 'direct' &&
      rooms[0].member(c.peerId) != null && rooms[2].member(a.peerId) != null, 'a and c to know each other through b', 30_000)

    const marker = encode(`MARKER-${Math.random().toString(16).slice(2)}`)
    const text = (suffix: string): Uint8Array => new Uint8Array([...marker, ...encode(suffix)])
    const tap = tapFrames()

    try {
      const atC = { messages: inbox(rooms[2]), direct: collect<DirectMessage>(rooms[2], 'direct'), ephemeral: collect<EphemeralMessage>(rooms[2], 'ephemeral') }
      rooms[2].handleRequest(request => new Uint8Array([...request.data, ...encode(' answered')]))

      await rooms[0].send(text(' message'))
      await rooms[0].setPresence({ note: decode(text(' presence')) })
      await rooms[0].send(text(' ephemeral'), { ephemeral: true })
      await rooms[0].sendTo(c.peerId, text(' direct'))
      const response = await rooms[0].request(c.peerId, text(' request'), { signal: AbortSignal.timeout(20_000) })
      expect(decode(response)).to.equal(`${decode(marker)} request answered`)
      // three blocks (256 KiB each): each sealed with its own index as the nonce
      const payload = new Uint8Array(700 * 1024).map((_, i) => marker[i % marker.byteLength])
      await rooms[0].send(payload, { name: decode(marker) })

      await until(() => atC.messages.length === 2 && atC.direct.length === 1 && atC.ephemeral.length === 1 && presenceOf(rooms[2], a.peerId) != null, 'c to get everything a sent')
      expect(decode(atC.messages[0].data)).to.equal(`${decode(marker)} message`)
      expect(decode(atC.direct[0].data)).to.equal(`${decode(marker)} direct`)
      expect(decode(atC.ephemeral[0].data)).to.equal(`${decode(marker)} ephemeral`)
      expect(presenceOf(rooms[2], a.peerId)).to.deep.equal({ note: `${decode(marker)} presence` })
      const incoming = atC.messages[1].payload!
      expect(incoming.name).to.equal(decode(marker))
      // c fetches it through b (it has no stream with a)
      expect(await incoming.bytes()).to.deep.equal(payload)
    } finally {
      tap.restore()
    }

    expect(tap.frames.length).to.be.greaterThan(20)
    expect(tap.frames.filter(frame => contains(frame, marker)), 'frames written to room and payload streams holding the plaintext').to.have.lengthOf(0)

    for (const datastore of datastores) {
      const values = await storedValues(datastore)
      expect(values.length).to.be.greaterThan(0)
      expect(values.filter(value => contains(value, marker)), 'stored values holding the plaintext').to.have.lengthOf(0)
    }

    // the same tap sees the plaintext of an open room: it can fail
    const open = await Promise.all([a, b].map(async node => node.services.mesh.join('open-control')))
    await waitForFullMesh(open, [a, b])
    const control = tapFrames()

    try {
      await open[0].send(text(' in the open'))
      await until(() => control.frames.some(frame => contains(frame, marker)), 'the open room\'s message on the tap')
    } finally {
      control.restore()
    }
  })

  it('a peer without the secret learns neither members nor messages: a different CID, no answer to a stream without proof (WrongSecretError), none to a record or replay request naming the room', async () => {
    nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const [a, b, x] = nodes
    const rooms = await Promise.all([a, b].map(async node => node.services.mesh.join('vault', { secret: 'the right secret' })))
    await waitForFullMesh(rooms, [a, b])
    const refused = rejections(a)
    const seen = inbox(rooms[0])

    // the name alone, or a wrong secret: another room, nobody in it
    const guesses = [await x.services.mesh.join('vault'), await x.services.mesh.join('vault', { secret: 'a wrong secret' })]
    expect(guesses.map(room => room.cid.toString())).to.not.include(rooms[0].cid.toString())
    expect(rooms[0].cid.toString()).to.equal((await RoomSecret.derive('vault', 'the right secret')).cid.toString())
    await rooms[1].send(encode('for members only'))
    await delay(3000)
    expect(guesses.every(room => room.members.length === 0), 'x found nobody').to.be.true()
    expect(rooms.every(room => room.member(x.peerId) == null), 'the members know nothing of x').to.be.true()

    // the room's CID is public (the DHT): a stream naming it with a wrong proof
    const connection: Connection = await x.dial(await waitForCircuitAddress(a), { signal: AbortSignal.timeout(10_000) })
    const open = async (protocol: string): Promise<Stream> => connection.newStream(protocol, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
    const wrong = await RoomSecret.derive('vault', 'a wrong secret')
    const forged = await open(ROOM_PROTOCOL)
    await lpStream(forged).write(MeshMessage.encode({ auth: { room: rooms[0].cid.bytes, proof: await wrong.prove('opener', x.peerId, a.peerId) } }))
    expect(await drain(forged, 5000)).to.deep.equal({ frames: 0, ended: true })
    await until(() => refused.some(r => r.error.name === 'WrongSecretError' && r.remotePeer.equals(x.peerId)), 'a to refuse the proof with WrongSecretError')

    // a record naming the room as its records do: as if a were not in it
    const hello = await open(ROOM_PROTOCOL)
    const record = await sealMemberRecord({ room: impl(rooms[0]).tag, seq: initialSeq() }, impl(guesses[0]).ctx.components.privateKey)
    await lpStream(hello).write(MeshMessage.encode({ record: record.envelope }))
    expect(await drain(hello, 5000)).to.deep.equal({ frames: 0, ended: true })
    await until(() => refused.some(r => r.error.name === 'RoomNotJoinedError' && r.remotePeer.equals(x.peerId)), 'a to refuse the record with RoomNotJoinedError')

    // a replay request for it: refused as for a room a is not in
    expect(await askReplay(connection, impl(rooms[0]).tag, impl(guesses[0]).ctx.components.privateKey)).to.equal(`not in room "${impl(rooms[0]).tag}"`)

    expect(rooms[0].member(x.peerId), 'x is no member').to.be.undefined()
    expect(seen.map(message => decode(message.data))).to.deep.equal(['for members only'])
  })

  it('a member of a private room restarted with its key and datastore reads its stored (encrypted) log back, and gets only what it missed', async () => {
    const key = await generateKeyPair('Ed25519')
    const datastore = new MemoryDatastore()
    const a = await createMember(relay.wsAddr)
    let b = await createMember(relay.wsAddr, { privateKey: key, datastore })
    nodes = [a, b]
    const roomA = await a.services.mesh.join('kept', { secret: 'kept secret' })
    let roomB = await b.services.mesh.join('kept', { secret: 'kept secret' })
    await waitForFullMesh([roomA, roomB], [a, b])
    let atB = inbox(roomB)

    for (const text of ['one', 'two', 'three']) {
      await roomA.send(encode(text))
    }

    await until(() => atB.length === 3, 'b to get three messages')
    await b.stop()
    await roomA.send(encode('four'))
    await roomA.send(encode('five'))

    b = await createMember(relay.wsAddr, { privateKey: key, datastore })
    nodes = [a, b]
    roomB = await b.services.mesh.join('kept', { secret: 'kept secret' })
    atB = inbox(roomB)
    // before any stream with a: its log holds the three it stored, read back and decrypted
    const held = impl(roomB).messaging.held(b.peerId).filter(range => range.sender.equals(a.peerId))
    expect(held.map(range => [range.lowest, range.highest])).to.deep.equal([[1, 3]])
    const kept = (impl(roomB).messaging as any).log.get(streamKey(a.peerId, held[0].epoch), 1)
    expect(decode(kept.data)).to.equal('one')
    expect(roomB.member(a.peerId)?.state).to.not.equal('direct')
    await until(() => atB.length === 2, 'b to get what it missed')
    await delay(1000)
    expect(atB.map(m => decode(m.data))).to.deep.equal(['four', 'five'])
  })

  it('join: two joins at once share one room, a stop while keys are derived leaves no room behind, names of private rooms\' records and a null secret are refused', async () => {
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    const [a, b] = nodes
    const [first, second] = await Promise.all([a.services.mesh.join('twice'), a.services.mesh.join('twice')])
    expect(first).to.equal(second)
    const [third, fourth] = await Promise.all([a.services.mesh.join('twice', { secret: 's' }), a.services.mesh.join('twice', { secret: 's' })])
    expect(third).to.equal(fourth)
    expect(a.services.mesh.rooms).to.have.lengthOf(2)

    await expect(a.services.mesh.join(impl(third).tag)).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
    await expect(a.services.mesh.join('null', { secret: null as any })).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')

    const joining = b.services.mesh.join('late', { secret: 'late' })
    await b.stop()
    await expect(joining).to.eventually.be.rejected()
    expect(b.services.mesh.rooms).to.have.lengthOf(0)
  })

  it('a member does not send its record to a peer that provides the room\'s CID but cannot prove the secret', async () => {
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    const [a, x] = nodes
    // x answers room streams with a proof made with another secret, and
    // keeps what it is sent
    const wrong = await RoomSecret.derive('vault-dial', 'a wrong secret')
    const received: MeshMessage[] = []
    await x.unhandle(ROOM_PROTOCOL)
    await x.handle(ROOM_PROTOCOL, async (stream: Stream, connection: Connection) => {
      const lp = lpStream(stream)

      try {
        while (true) {
          const message = MeshMessage.decode((await lp.read()).subarray())
          received.push(message)

          if (message.auth != null) {
            await lp.write(MeshMessage.encode({ auth: { room: new Uint8Array(0), proof: await wrong.prove('answerer', connection.remotePeer, x.peerId) } }))
          }
        }
      } catch {}
    }, { runOnLimitedConnection: true })

    const room = await a.services.mesh.join('vault-dial', { secret: 'the right secret' })
    const refused = rejections(a)
    await x.contentRouting.provide(room.cid)
    await until(() => refused.some(r => r.error.name === 'WrongSecretError' && r.remotePeer.equals(x.peerId)), 'a to find x in the DHT, dial it and refuse its proof', 60_000)
    expect(received.length).to.be.greaterThan(0)
    expect(received.every(message => message.auth != null && message.record == null), 'a sent x nothing but its own proof').to.be.true()
    expect(room.member(x.peerId)?.state).to.not.equal('direct')
  })

  it('a private room and the open room of the same name are two rooms; joining with a roster and a secret keeps non-roster peers out', async () => {
    nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const [a, b, c] = nodes
    const open = await Promise.all([a, b].map(async node => node.services.mesh.join('lobby')))
    const roster = [a.peerId, b.peerId]
    const closed = await Promise.all([a, b].map(async node => node.services.mesh.join('lobby', { secret: 'shared', roster })))
    expect(closed[0]).to.not.equal(open[0])
    await waitForFullMesh(open, [a, b])
    await waitForFullMesh(closed, [a, b])
    const inOpen = inbox(open[1])
    const inClosed = inbox(closed[1])
    await closed[0].send(encode('closed'))
    await open[0].send(encode('open'))
    await until(() => inOpen.length === 1 && inClosed.length === 1, 'one message in each room')
    expect(decode(inOpen[0].data)).to.equal('open')
    expect(decode(inClosed[0].data)).to.equal('closed')

    // many small and a few large messages sent at once: batches that fit a
    // message once each entry is sealed (it grows by its nonce and tag)
    const refused = rejections(b)
    await Promise.all([
      ...Array.from({ length: 64 }, async (_, i) => closed[0].send(new Uint8Array(240).fill(i))),
      ...Array.from({ length: 8 }, async (_, i) => closed[0].send(new Uint8Array(2000).fill(i)))
    ])
    await until(() => inClosed.length === 73, 'every message of the burst')
    expect(refused.map(r => r.error.name)).to.deep.equal([])

    // c holds the secret but is not on the roster
    await expect(c.services.mesh.join('lobby', { secret: 'shared', roster })).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
    const outsider = await c.services.mesh.join('lobby', { secret: 'shared' })

    // a replay request of c is refused as for a room a is not in (not by its
    // roster check, which would name the room)
    const connection = await c.dial(await waitForCircuitAddress(a), { signal: AbortSignal.timeout(10_000) })
    expect(await askReplay(connection, impl(closed[0]).tag, impl(outsider).ctx.components.privateKey)).to.equal(`not in room "${impl(closed[0]).tag}"`)
    // an open room with the secret is still another room than the roster room
    expect(outsider.cid.toString()).to.equal(closed[0].cid.toString())
    await delay(3000)
    expect(closed[0].member(c.peerId)?.state ?? 'none').to.not.equal('direct')
    await expect(a.services.mesh.join('lobby', { secret: '' })).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
  })
})
