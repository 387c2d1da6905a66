import '../fixtures/datachannel-cleanup.ts'
import { setTimeout as delay } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { expect } from 'aegir/chai'
import { MemoryDatastore } from 'datastore-core'
import pWaitFor from 'p-wait-for'
import { Signer } from '../../src/envelope/keys.ts'
import { sealRoomNote } from '../../src/envelope/note.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { collect, createMember, createPartitionable, impl, inbox, presenceOf, rejections, waitForFullMesh, waitForSettledStreams } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { RoomNoteInit } from '../../src/envelope/note.ts'
import type { DirectMessage, EphemeralMessage, PresenceInfo, Room } from '../../src/index.ts'
import type { Session } from '../../src/mesh/session.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const decode = (data: Uint8Array): string => new TextDecoder().decode(data)

/**
 * Puts a note on `from`'s stream with `to` as if `from`'s room sent it
 * (signed by `key`, which need not be the sender's), with `forwardTo`.
 */
async function inject (from: Room, to: PeerId, init: Partial<RoomNoteInit> & Pick<RoomNoteInit, 'kind' | 'sender'>, key: PrivateKey, forwardTo: Array<Uint8Array<ArrayBuffer>> = []): Promise<void> {
  const room = impl(from)
  const note = await sealRoomNote({
    room: room.id,
    timestamp: Date.now(),
    id: globalThis.crypto.getRandomValues(new Uint8Array(16)),
    data: new Uint8Array(0),
    ...init
  }, new Signer(key))
  const member = room.getMember(to)!
  await member.session!.send({ note: note.bytes, forwardTo })
}

describe('mesh: presence, ephemeral and direct messages', function () {
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

  it('presence: every member holds the newest value, a newcomer gets the current ones, clearing and leaving clear it', async () => {
    nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const [a, b] = nodes
    const rooms = await Promise.all(nodes.slice(0, 2).map(async node => node.services.mesh.join('presence')))
    await waitForFullMesh(rooms, nodes.slice(0, 2))
    const atB = collect<PresenceInfo>(rooms[1], 'presence')

    await rooms[0].setPresence({ name: 'ada', typing: false })
    await rooms[1].setPresence(encode('bytes'))
    await pWaitFor(() => presenceOf(rooms[1], a.peerId) != null && presenceOf(rooms[0], b.peerId) != null, { timeout: 10_000, interval: 50 })
    expect(presenceOf(rooms[1], a.peerId)).to.deep.equal({ name: 'ada', typing: false })
    expect(presenceOf(rooms[0], b.peerId)).to.deep.equal(encode('bytes'))

    // 100 updates at once are coalesced: the newest wins, far fewer are sent
    await Promise.all(Array.from({ length: 100 }, async (_, i) => rooms[0].setPresence({ name: 'ada', n: i + 1 })))
    await pWaitFor(() => (presenceOf(rooms[1], a.peerId) as any)?.n === 100, { timeout: 10_000, interval: 50 })
    expect(atB.filter(p => p.peerId.equals(a.peerId)).length).to.be.below(10)

    // a newcomer gets a's value from a, or from b, without a setting it again
    const c = await nodes[2].services.mesh.join('presence')
    rooms.push(c)
    await pWaitFor(() => presenceOf(c, a.peerId) != null && presenceOf(c, b.peerId) != null, { timeout: 30_000, interval: 50 })
    expect(presenceOf(c, a.peerId)).to.deep.equal({ name: 'ada', n: 100 })
    expect(presenceOf(c, b.peerId)).to.deep.equal(encode('bytes'))
    expect(c.presence).to.have.lengthOf(2)

    // cleared: an event with no value, and gone from the list
    await rooms[1].setPresence(undefined)
    await pWaitFor(() => presenceOf(c, b.peerId) === undefined && presenceOf(rooms[0], b.peerId) === undefined, { timeout: 10_000, interval: 50 })
    expect(rooms[0].presence.map(p => p.peerId.toString())).to.deep.equal([])

    // a member that leaves: its presence goes, with an event
    const cleared = new Promise<PresenceInfo>(resolve => {
      c.addEventListener('presence', (evt) => {
        if (evt.detail.peerId.equals(a.peerId) && evt.detail.value === undefined) {
          resolve(evt.detail)
        }
      })
    })
    await rooms[0].leave()
    await cleared
    expect(c.presence).to.deep.equal([])
  })

  it('presence and ephemeral messages are not logged: a member that restarts sees neither again, and its own old presence is cleared', async () => {
    const key = await generateKeyPair('Ed25519')
    const datastore = new MemoryDatastore()
    const a = await createMember(relay.wsAddr)
    let b = await createMember(relay.wsAddr, { privateKey: key, datastore })
    nodes = [a, b]
    const roomA = await a.services.mesh.join('not-logged')
    let roomB = await b.services.mesh.join('not-logged')
    await waitForFullMesh([roomA, roomB], nodes)
    const ephemeralAtB = collect<EphemeralMessage>(roomB, 'ephemeral')
    const messagesAtB = inbox(roomB)

    await roomA.setPresence('here')
    await roomB.setPresence('b was here')
    await roomA.send(encode('typing'), { ephemeral: true })
    await roomA.send(encode('logged'))
    await pWaitFor(() => ephemeralAtB.length === 1 && messagesAtB.length === 1 && presenceOf(roomB, a.peerId) === 'here' && presenceOf(roomA, b.peerId) === 'b was here', { timeout: 10_000, interval: 50 })
    expect(decode(ephemeralAtB[0].data)).to.equal('typing')
    expect(ephemeralAtB[0].sender.equals(a.peerId)).to.be.true()
    expect(messagesAtB.map(m => decode(m.data)), 'an ephemeral message is no room message').to.deep.equal(['logged'])
    expect(impl(roomB).messaging.log.size).to.equal(1)

    // b reloads: same key, same datastore
    await b.stop()
    const clearedAtA = new Promise<void>(resolve => {
      roomA.addEventListener('presence', (evt) => {
        if (evt.detail.peerId.equals(b.peerId) && evt.detail.value === undefined) {
          resolve()
        }
      })
    })
    b = await createMember(relay.wsAddr, { privateKey: key, datastore })
    nodes = [a, b]
    roomB = await b.services.mesh.join('not-logged')
    const again = { ephemeral: collect<EphemeralMessage>(roomB, 'ephemeral'), messages: inbox(roomB) }
    await waitForFullMesh([roomA, roomB], nodes, 30_000)
    await pWaitFor(() => presenceOf(roomB, a.peerId) === 'here', { timeout: 10_000, interval: 50 })
    // its presence before the reload is cleared at a by its new start
    await clearedAtA
    expect(presenceOf(roomA, b.peerId)).to.equal(undefined)
    await delay(1000)
    expect(again.ephemeral, 'the ephemeral message comes back from nowhere').to.be.empty()
    expect(again.messages, 'what it had is not delivered again').to.be.empty()
    expect(impl(roomB).messaging.log.size).to.equal(1)
  })

  it('ephemeral messages: delivered once, to the members reached only; more than 20 a second refused with RateLimitError', async () => {
    nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const rooms = await Promise.all(nodes.slice(0, 2).map(async node => node.services.mesh.join('ephemeral')))
    await waitForFullMesh(rooms, nodes.slice(0, 2))
    const atB = collect<EphemeralMessage>(rooms[1], 'ephemeral')

    await Promise.all(Array.from({ length: 15 }, async (_, i) => rooms[0].send(encode(`e${i}`), { ephemeral: true })))
    await pWaitFor(() => atB.length === 15, { timeout: 10_000, interval: 50 })

    const late = await nodes[2].services.mesh.join('ephemeral')
    const atLate = collect<EphemeralMessage>(late, 'ephemeral')
    await waitForFullMesh([...rooms, late], nodes)
    await delay(500)
    expect(atLate, 'a member that joined later never gets them').to.be.empty()

    await delay(1000)
    const results = await Promise.allSettled(Array.from({ length: 30 }, async () => rooms[0].send(encode('flood'), { ephemeral: true })))
    const refused = results.filter(r => r.status === 'rejected')
    expect(refused.length).to.be.at.least(10)
    expect(refused.every(r => (r as PromiseRejectedResult).reason.name === 'RateLimitError')).to.be.true()
    await delay(500)
    expect(atB.length).to.equal(15 + results.length - refused.length)
  })

  it('direct messages reach their recipient only, also through a member when the pair cannot connect; requests get responses', async () => {
    const members = await Promise.all([0, 1, 2].map(async () => createPartitionable(relay.wsAddr)))
    nodes = members.map(m => m.node)
    const [a, b, c] = nodes
    // a and c refuse each other from the start; both reach b
    await members[0].cut(c.peerId)
    await members[2].cut(a.peerId)
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('direct')))
    const direct = rooms.map(room => collect<DirectMessage>(room, 'direct'))
    await pWaitFor(() => rooms[0].member(b.peerId)?.state === 'direct' && rooms[2].member(b.peerId)?.state === 'direct' &&
      rooms[0].member(c.peerId) != null && rooms[2].member(a.peerId) != null, { timeout: 30_000, interval: 100 })

    await rooms[0].sendTo(b.peerId, encode('to b'))
    expect(direct[1].map(m => decode(m.data))).to.deep.equal(['to b'])
    expect(direct[1][0].sender.equals(a.peerId)).to.be.true()

    // through b, which cannot read a different message into it
    await rooms[0].sendTo(c.peerId, encode('to c, via b'))
    expect(direct[2].map(m => decode(m.data))).to.deep.equal(['to c, via b'])
    expect(a.getConnections(c.peerId)).to.be.empty()
    await delay(300)
    expect(direct[1].map(m => decode(m.data)), 'b passed it on but did not take it').to.deep.equal(['to b'])
    expect(direct[0]).to.be.empty()

    rooms[2].handleRequest(async (request) => encode(`c answers ${decode(request.data)} of ${request.sender.toString().slice(-4)}`))
    expect(decode(await rooms[0].request(c.peerId, encode('ping')))).to.equal(`c answers ping of ${a.peerId.toString().slice(-4)}`)

    rooms[2].handleRequest(() => { throw new Error('no such thing') })
    await expect(rooms[0].request(c.peerId, encode('x'))).to.eventually.be.rejected.with.property('name', 'RequestFailedError')
    await expect(rooms[0].request(c.peerId, encode('x'))).to.eventually.be.rejectedWith(/no such thing/)
    rooms[2].unhandleRequest()
    await expect(rooms[0].request(c.peerId, encode('x'))).to.eventually.be.rejectedWith(/no request handler/)

    const stranger = await generateKeyPair('Ed25519')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    await expect(rooms[0].sendTo(peerIdFromPrivateKey(stranger), encode('?'))).to.eventually.be.rejected.with.property('name', 'UnknownMemberError')
  })

  it('a note that reaches a member from two members passing it on at once is taken once', async () => {
    const members = await Promise.all([0, 1, 2, 3].map(async () => createPartitionable(relay.wsAddr)))
    nodes = members.map(m => m.node)
    const [a, , , d] = nodes
    // a and d refuse each other: b and c both pass a's notes on to d
    await members[0].cut(d.peerId)
    await members[3].cut(a.peerId)
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('two-forwarders')))
    await pWaitFor(() => rooms[0].members.filter(m => m.state === 'direct').length === 2 && rooms[3].members.filter(m => m.state === 'direct').length === 2 &&
      rooms[0].member(d.peerId) != null && rooms[3].member(a.peerId) != null, { timeout: 30_000, interval: 100 })
    const atD = collect<EphemeralMessage>(rooms[3], 'ephemeral')
    const presence = collect<PresenceInfo>(rooms[3], 'presence')

    for (let i = 0; i < 10; i++) {
      await rooms[0].send(encode(`e${i}`), { ephemeral: true })
      await rooms[0].setPresence({ i })
    }

    await pWaitFor(() => atD.length >= 10 && (presenceOf(rooms[3], a.peerId) as any)?.i === 9, { timeout: 10_000, interval: 50 })
    await delay(500)
    expect(atD.map(e => decode(e.data))).to.deep.equal(Array.from({ length: 10 }, (_, i) => `e${i}`))
    const seen = presence.filter(p => p.peerId.equals(a.peerId)).map(p => (p.value as { i: number }).i)
    expect(seen, 'presence never goes back').to.deep.equal([...seen].sort((x, y) => x - y))
    expect(new Set(seen).size, 'each value once').to.equal(seen.length)
  })

  it('a direct message to a member nobody reaches times out; one sent while the member is cut off arrives once it is back', async () => {
    const members = await Promise.all([0, 1].map(async () => createPartitionable(relay.wsAddr, { mesh: { directTimeout: 20_000 } })))
    nodes = members.map(m => m.node)
    const [a, b] = nodes
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('direct-cut')))
    await waitForFullMesh(rooms, nodes)
    const atB = collect<DirectMessage>(rooms[1], 'direct')

    await Promise.all([members[0].cut(b.peerId), members[1].cut(a.peerId)])
    await pWaitFor(() => rooms[0].member(b.peerId)?.route === 'none', { timeout: 20_000, interval: 100 })
    await expect(rooms[0].sendTo(b.peerId, encode('lost'), { timeout: 1500 })).to.eventually.be.rejected.with.property('name', 'TimeoutError')

    const sent = rooms[0].sendTo(b.peerId, encode('later'))
    await delay(1000)
    members.forEach(m => { m.heal() })
    await sent
    expect(atB.map(m => decode(m.data))).to.include('later')
    expect(atB.filter(m => decode(m.data) === 'later'), 'taken once, however many copies came').to.have.lengthOf(1)
  })

  it('a request that arrives again is handled once, and a copy after its response gets that response again', async () => {
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    const b = nodes[1]
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('request-twice')))
    await waitForFullMesh(rooms, nodes)
    await waitForSettledStreams(rooms)
    let handled = 0
    rooms[1].handleRequest(() => { handled++; return encode('once') })

    // the same signed request written twice to b's stream
    const room = impl(rooms[0])
    const note = await room.notes.seal({ kind: 'request', recipient: b.peerId, data: encode('q') })
    // the stream a holds with b now: a pair may still swap it for a better
    // ranked one, so each copy goes on the stream of that moment
    const session = (): Session => room.getMember(b.peerId)!.session!
    const answers: Uint8Array[] = []
    const settle = (room.notes.direct as any).settle.bind(room.notes.direct)
    ;(room.notes.direct as any).settle = (answer: { data: Uint8Array }) => { answers.push(answer.data); settle(answer) }
    // a copy while it is handled goes unanswered (the requester sends again later)
    await session().sendMany([{ note: note.bytes }, { note: note.bytes }])
    await pWaitFor(() => answers.length === 1, { timeout: 10_000, interval: 50 })
    // a copy after its response was sent (that response was lost): the same response
    await session().send({ note: note.bytes })
    await pWaitFor(() => answers.length === 2, { timeout: 10_000, interval: 50 })
    expect(handled).to.equal(1)
    expect(answers.map(decode)).to.deep.equal(['once', 'once'])
  })

  it('refuses forged, cross-room, oversize and stale notes with typed errors and takes none of them', async () => {
    nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const [a, b, c] = nodes
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('forged-notes')))
    await waitForFullMesh(rooms, nodes)
    await waitForSettledStreams(rooms)
    const atB = { direct: collect<DirectMessage>(rooms[1], 'direct'), ephemeral: collect<EphemeralMessage>(rooms[1], 'ephemeral'), presence: collect<PresenceInfo>(rooms[1], 'presence') }
    const refused = rejections(b)
    const cKey = await generateKeyPair('Ed25519')

    // c passes on a "direct message of a" it signed itself
    await inject(rooms[2], b.peerId, { kind: 'direct', sender: a.peerId, recipient: b.peerId, data: encode('forged') }, cKey)
    await pWaitFor(() => refused.some(r => r.error.name === 'InvalidSignatureError'), { timeout: 10_000, interval: 50 })
    expect(refused.find(r => r.error.name === 'InvalidSignatureError')?.remotePeer.equals(c.peerId)).to.be.true()
    await pWaitFor(() => rooms[1].member(c.peerId)?.state === 'direct', { timeout: 20_000, interval: 100 })

    // a note of a's own for another room
    const keyOfA = impl(rooms[0]).ctx.components.privateKey
    const other = impl(rooms[0])
    const crossRoom = await sealRoomNote({ room: encode('another room id'), sender: a.peerId, timestamp: Date.now(), id: new Uint8Array(16), kind: 'ephemeral', data: encode('x') }, new Signer(keyOfA))
    await other.getMember(b.peerId)!.session!.send({ note: crossRoom.bytes })
    await pWaitFor(() => refused.some(r => r.error.name === 'WrongRoomError'), { timeout: 10_000, interval: 50 })
    await pWaitFor(() => rooms[1].member(a.peerId)?.state === 'direct', { timeout: 20_000, interval: 100 })

    // presence larger than allowed
    await inject(rooms[0], b.peerId, { kind: 'presence', sender: a.peerId, data: new Uint8Array(2048) }, keyOfA)
    await pWaitFor(() => refused.some(r => r.error.name === 'MessageTooLargeError'), { timeout: 10_000, interval: 50 })

    // too large for b's settings: dropped and reported, the stream kept (the sender's settings may differ)
    expect(rooms[1].member(a.peerId)?.state).to.equal('direct')

    // a stale ephemeral message of c (a's refusals are reported once a minute): dropped and reported, the stream kept
    const session = impl(rooms[1]).getMember(c.peerId)!.session
    await inject(rooms[2], b.peerId, { kind: 'ephemeral', sender: c.peerId, data: encode('old'), timestamp: Date.now() - 120_000 }, impl(rooms[2]).ctx.components.privateKey)
    await pWaitFor(() => refused.some(r => r.error.name === 'StaleNoteError'), { timeout: 10_000, interval: 50 })
    expect(impl(rooms[1]).getMember(c.peerId)!.session, 'a stale note does not reset the stream').to.equal(session)

    expect(atB.direct).to.be.empty()
    expect(atB.ephemeral).to.be.empty()
    expect(atB.presence).to.be.empty()
  })
})
