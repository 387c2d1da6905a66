import '../fixtures/datachannel-cleanup.ts'
import { setTimeout as delay } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import * as Digest from 'multiformats/hashes/digest'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { signaturePayload } from '../../src/envelope/batch.ts'
import { ROOM_NOTE_CODEC, ROOM_NOTE_DOMAIN } from '../../src/envelope/constants.ts'
import { Signer } from '../../src/envelope/keys.ts'
import { sealRoomNote } from '../../src/envelope/note.ts'
import { RoomNote as RoomNoteMessage, SignedRoomNote as SignedRoomNoteMessage } from '../../src/envelope/pb/room-note.ts'
import { DIRECT_PER_SECOND, EPHEMERAL_PER_SECOND, MAX_KEPT_RESPONSES_PER_MEMBER, MAX_NOTE_IDS_PER_SENDER, MAX_REQUESTS_IN_FLIGHT_PER_MEMBER } from '../../src/mesh/notes/constants.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { collect, createMember, idBytes, impl, naming, presenceOf, rejections, sessionOf, until, waitForFullMesh, waitForSettledStreams } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { RoomNoteInit } from '../../src/envelope/note.ts'
import type { DirectMessage, EphemeralMessage, PresenceInfo, Room } from '../../src/index.ts'
import type { Member } from '../../src/mesh/member.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'

/**
 * Hostile members and room notes (presence, ephemeral and direct messages,
 * requests, responses, receipts). The attacker is a real member node
 * (`createMember`) in the room, on real transports, that also writes notes
 * of its choosing (its own, copies of others', forged or malformed) on its
 * own room stream to the victim. Victims' internals are only read (or
 * wrapped to see what arrives), never driven.
 */

const encode = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text)
const decode = (data: Uint8Array): string => new TextDecoder().decode(data)

/** the notes that reach `room`, as bytes, with who brought them (its own `receive` wrapped, then called as before) */
function tapNotes (room: Room): Array<{ from: PeerId, bytes: Uint8Array, kind: string, sender: PeerId }> {
  const notes = impl(room).notes
  const seen: Array<{ from: PeerId, bytes: Uint8Array, kind: string, sender: PeerId }> = []
  const receive = notes.receive.bind(notes)
  notes.receive = async (from: Member, bytes: Uint8Array, forwardTo: Uint8Array[]) => {
    try {
      const signed = SignedRoomNoteMessage.decode(bytes)
      const note = RoomNoteMessage.decode(signed.note)
      seen.push({ from: from.peerId, bytes, kind: RoomNoteMessage.Kind[note.kind] ?? String(note.kind), sender: peerIdFromMultihash(Digest.decode(note.sender)) })
    } catch {
      // malformed: receive refuses it
    }

    await receive(from, bytes, forwardTo)
  }
  return seen
}

/** a note of `room` signed by `key` (which need not be the sender's) */
async function note (room: Room, init: Partial<RoomNoteInit> & Pick<RoomNoteInit, 'kind' | 'sender'>, key: PrivateKey): Promise<Uint8Array<ArrayBuffer>> {
  const sealed = await sealRoomNote({
    room: impl(room).id,
    timestamp: Date.now(),
    id: globalThis.crypto.getRandomValues(new Uint8Array(16)),
    data: new Uint8Array(0),
    ...init
  }, new Signer(key))
  return sealed.bytes
}

/** a note encoded and signed as given, fields `sealRoomNote` would refuse included */
async function rawNote (fields: Partial<RoomNoteMessage>, key: PrivateKey): Promise<Uint8Array<ArrayBuffer>> {
  const body = RoomNoteMessage.encode({
    room: new Uint8Array(0),
    sender: idBytes(peerIdFromPrivateKey(key)),
    kind: RoomNoteMessage.Kind.EPHEMERAL,
    timestamp: BigInt(Date.now()),
    id: globalThis.crypto.getRandomValues(new Uint8Array(16)),
    data: new Uint8Array(0),
    json: false,
    cleared: false,
    failed: false,
    ...fields
  })
  const signature = await new Signer(key).sign(signaturePayload(ROOM_NOTE_DOMAIN, ROOM_NOTE_CODEC, body).subarray())
  return SignedRoomNoteMessage.encode({ note: body, signature: signature as Uint8Array<ArrayBuffer> })
}

/**
 * Writes `burst` copies of `bytes` on `from`'s stream with `to` every `every`
 * ms until stopped (on whatever stream there is at each tick).
 */
interface Flood {
  sent(): number
  stop(): Promise<void>
}

function flood (from: Room, to: PeerId, bytes: Uint8Array<ArrayBuffer>, burst: number, every: number): Flood {
  const state = { stopped: false, sent: 0 }
  const frames = Array.from({ length: burst }, () => ({ note: bytes }))
  const tick = async (): Promise<void> => {
    const session = sessionOf(from, to)

    if (session != null) {
      try {
        await session.sendMany(frames)
        state.sent += burst
      } catch {
        // the stream went: the next tick takes the new one
      }
    }

    await delay(every)
  }
  const running = (async () => {
    while (!state.stopped) {
      await tick()
    }
  })()

  return {
    sent: () => state.sent,
    stop: async () => {
      state.stopped = true
      await running
    }
  }
}

describe('mesh: hostile members and room notes', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []
  let floods: Flood[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  afterEach(async () => {
    await Promise.all(floods.map(async f => f.stop()))
    floods = []
    await stopNodes(nodes)
    nodes = []
  })

  /** a victim `a`, an honest member `b` and an attacker `c`, all direct with each other in room `name` */
  async function trio (name: string): Promise<{ a: MeshNode, b: MeshNode, c: MeshNode, roomA: Room, roomB: Room, roomC: Room, cKey: PrivateKey }> {
    const cKey = await generateKeyPair('Ed25519')
    nodes = await Promise.all([
      createMember(relay.wsAddr),
      createMember(relay.wsAddr),
      createMember(relay.wsAddr, { privateKey: cKey })
    ])
    const [a, b, c] = nodes
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join(name)))
    await waitForFullMesh(rooms, nodes, 60_000)
    await waitForSettledStreams(rooms)
    return { a, b, c, roomA: rooms[0], roomB: rooms[1], roomC: rooms[2], cKey }
  }

  it('replays: an ephemeral or direct note sent again by its sender or passed on by another member is delivered once; an older presence passed on after a newer one does not roll it back', async () => {
    // property: notes taken once by id (ephemeral, direct) raise one event however many copies arrive, by whatever route;
    // presence is newest-wins by the sender's signed timestamp, whoever passes an old note on and however often
    const { a, b, c, roomA, roomB, roomC, cKey } = await trio('notes-replay')
    const keyOfB = impl(roomB).ctx.components.privateKey
    const ephemeralAtA = collect<EphemeralMessage>(roomA, 'ephemeral')
    const directAtA = collect<DirectMessage>(roomA, 'direct')
    const heldAtC = (): any => (impl(roomC).notes.presence as any).held.get(b.peerId)

    // b's presence v1 then v2, reaching a and c; c keeps v1
    await roomB.setPresence({ v: 1 })
    await until(() => (presenceOf(roomA, b.peerId) as any)?.v === 1 && heldAtC()?.value?.v === 1, 'v1 at a and c')
    const v1: Uint8Array<ArrayBuffer> = heldAtC().note.bytes
    await roomB.setPresence({ v: 2 })
    await until(() => (presenceOf(roomA, b.peerId) as any)?.v === 2 && heldAtC()?.value?.v === 2, 'v2 at a and c')
    const presenceAtA = collect<PresenceInfo>(roomA, 'presence')

    // b's own ephemeral and direct notes, written twice on its stream to a
    const ephemeral = await note(roomB, { kind: 'ephemeral', sender: b.peerId, data: encode('eph of b') }, keyOfB)
    const direct = await note(roomB, { kind: 'direct', sender: b.peerId, recipient: a.peerId, data: encode('direct of b') }, keyOfB)
    await sessionOf(roomB, a.peerId)!.sendMany([{ note: ephemeral }, { note: direct }, { note: ephemeral }, { note: direct }])
    await until(() => ephemeralAtA.length >= 1 && directAtA.length >= 1, 'a to take b\'s notes')

    // c passes the same signed notes and the old presence on, many times, as copies and asking a to pass them on to b
    await sessionOf(roomC, a.peerId)!.sendMany([
      ...Array.from({ length: 5 }, () => ({ note: ephemeral })),
      ...Array.from({ length: 5 }, () => ({ note: direct })),
      ...Array.from({ length: 3 }, () => ({ note: v1 })),
      { note: ephemeral, forwardTo: [idBytes(b.peerId)] },
      { note: v1, forwardTo: [idBytes(b.peerId)] }
    ])
    // and a note of c's own after them, so a has read all of them once it has that one
    const marker = await note(roomC, { kind: 'ephemeral', sender: c.peerId, data: encode('marker') }, cKey)
    await sessionOf(roomC, a.peerId)!.send({ note: marker })
    await until(() => ephemeralAtA.some(e => decode(e.data) === 'marker'), 'a to read c\'s copies')
    // b sends them again later too
    await sessionOf(roomB, a.peerId)!.sendMany([{ note: ephemeral }, { note: direct }, { note: v1 }])
    await delay(500)

    expect(ephemeralAtA.filter(e => decode(e.data) === 'eph of b'), 'the ephemeral message, once').to.have.lengthOf(1)
    expect(directAtA.map(d => decode(d.data)), 'the direct message, once').to.deep.equal(['direct of b'])
    expect(presenceOf(roomA, b.peerId), 'the newest presence stays').to.deep.equal({ v: 2 })
    expect(presenceAtA, 'no presence event for an old value').to.be.empty()
  })

  it('a direct note for another member is never delivered by the victim, and passed on only when asked, only to its recipient', async () => {
    // property: passOn takes a note addressed to someone else only as a forwarder: asked via forwardTo, to its recipient only, never to the sender's own route back
    const { a, b, c, roomA, roomB, roomC, cKey } = await trio('notes-pass-on')
    const directAtA = collect<DirectMessage>(roomA, 'direct')
    const directAtB = collect<DirectMessage>(roomB, 'direct')
    const atB = tapNotes(roomB)
    const refusedByA = rejections(a)

    // c's own direct notes for b, on c's stream to a: not asked, asked for someone else (c itself), asked for b
    const notAsked = await note(roomC, { kind: 'direct', sender: c.peerId, recipient: b.peerId, data: encode('not asked') }, cKey)
    const askedWrong = await note(roomC, { kind: 'direct', sender: c.peerId, recipient: b.peerId, data: encode('asked for c') }, cKey)
    const asked = await note(roomC, { kind: 'direct', sender: c.peerId, recipient: b.peerId, data: encode('asked for b') }, cKey)
    // one for a, with a asked to pass it on to b: a takes it, passes nothing on
    const forA = await note(roomC, { kind: 'direct', sender: c.peerId, recipient: a.peerId, data: encode('for a') }, cKey)
    await sessionOf(roomC, a.peerId)!.sendMany([
      { note: notAsked },
      { note: askedWrong, forwardTo: [idBytes(c.peerId), idBytes(a.peerId)] },
      { note: asked, forwardTo: [idBytes(b.peerId), idBytes(c.peerId), idBytes(a.peerId)] },
      { note: forA, forwardTo: [idBytes(b.peerId)] }
    ])

    await until(() => directAtB.some(d => decode(d.data) === 'asked for b') && directAtA.length > 0, 'the asked-for note at b and a\'s own at a')
    await delay(500)
    const fromA = atB.filter(n => n.from.equals(a.peerId) && n.sender.equals(c.peerId)).map(n => n.kind)

    expect(directAtA.map(d => decode(d.data)), 'a delivers only the note for it').to.deep.equal(['for a'])
    expect(directAtB.map(d => decode(d.data)), 'b gets only what a was asked to pass on to it').to.deep.equal(['asked for b'])
    expect(fromA, 'a passed on exactly one note of c to b').to.deep.equal(['DIRECT'])
    expect(naming(refusedByA, c.peerId), 'none of it is a refusal').to.be.empty()
  })

  it('a response or receipt from a member other than the one asked does not settle a request', async () => {
    // property: settle() takes an answer only from the recipient of the request; a forged answer in the recipient's name is refused as forged
    const { a, b, c, roomA, roomB, roomC, cKey } = await trio('notes-wrong-answer')
    const refusedByA = rejections(a)
    let release: (() => void) | undefined
    const gate = new Promise<void>(resolve => { release = resolve })
    let handled = 0
    roomB.handleRequest(async () => { handled++; await gate; return encode('from b') })

    let settled: string | undefined
    const asked = roomA.request(b.peerId, encode('q'), { timeout: 30_000 }).then(data => { settled = decode(data) }, err => { settled = `error ${err.name}` })
    const waiting = (): string[] => [...(impl(roomA).notes.direct as any).waiting.keys()]
    await until(() => waiting().length === 1 && handled === 1, 'a\'s request under way at b')
    const replyTo = uint8ArrayFromString(waiting()[0], 'base16')

    // c answers in its own name (a response and a receipt), and forges one in b's name
    await sessionOf(roomC, a.peerId)!.sendMany([
      { note: await note(roomC, { kind: 'response', sender: c.peerId, recipient: a.peerId, replyTo, data: encode('from c') }, cKey) },
      { note: await note(roomC, { kind: 'receipt', sender: c.peerId, recipient: a.peerId, replyTo }, cKey) }
    ])
    await roomC.send(encode('marker'), { ephemeral: true })
    const ephemeralAtA = collect<EphemeralMessage>(roomA, 'ephemeral')
    await until(() => ephemeralAtA.length > 0, 'a to read c\'s answers')
    expect(settled, 'c\'s own answers settle nothing').to.equal(undefined)

    await sessionOf(roomC, a.peerId)!.send({ note: await note(roomC, { kind: 'response', sender: b.peerId, recipient: a.peerId, replyTo, data: encode('forged b') }, cKey) })
    await until(() => refusedByA.some(r => r.error.name === 'InvalidSignatureError'), 'a to refuse the forged response')
    expect(naming(refusedByA, c.peerId).some(r => r.startsWith('InvalidSignatureError')), 'c is blamed for the forgery').to.be.true()
    expect(settled, 'a forged answer settles nothing').to.equal(undefined)

    release?.()
    await asked
    expect(settled).to.equal('from b')
    expect(handled, 'b handled it once').to.equal(1)
  })

  it('copies of an honest member\'s notes passed on by another member do not use up that member\'s rate: its direct messages still arrive and it is not blamed', async () => {
    // property: a member's per-sender budget at the victim is spent only by notes that member sent (or passed on for it at its asking);
    // a third member replaying (or even forging: copies are not verified) notes in its name must not get its
    // genuine direct messages dropped as over its rate, nor get it reported as the one that broke the rate
    const { a, b, roomA, roomB, roomC } = await trio('notes-copies-rate')
    const refusedByA = rejections(a)
    const atC = tapNotes(roomC)
    const ephemeralAtA = collect<EphemeralMessage>(roomA, 'ephemeral')
    const directAtA = collect<DirectMessage>(roomA, 'direct')

    // b's genuine ephemeral message, taken by a; c keeps a copy
    await roomB.send(encode('hello'), { ephemeral: true })
    await until(() => ephemeralAtA.length === 1 && atC.some(n => n.kind === 'EPHEMERAL' && n.sender.equals(b.peerId)), 'b\'s ephemeral message at a and c')
    const copy = atC.find(n => n.kind === 'EPHEMERAL' && n.sender.equals(b.peerId))!.bytes as Uint8Array<ArrayBuffer>

    // c writes copies of it to a, 210 every 250 ms (840 a second: within what one stream may bring)
    const attack = flood(roomC, a.peerId, copy, 210, 250)
    floods.push(attack)
    await until(() => attack.sent() >= 840, 'the flood to begin')

    // meanwhile b sends a ten direct messages, each with time to be sent again
    const results = await Promise.allSettled(Array.from({ length: 10 }, async (_, i) => {
      await delay(i * 200)
      await roomB.sendTo(a.peerId, encode(`d${i}`), { timeout: 8_000 })
    }))
    await attack.stop()

    const failed = results.filter(r => r.status === 'rejected').map(r => (r as PromiseRejectedResult).reason.name)
    expect({
      blamedB: naming(refusedByA, b.peerId),
      failedSendTo: failed,
      delivered: directAtA.length
    }, `c sent ${attack.sent()} copies of b's note`).to.deep.equal({ blamedB: [], failedSendTo: [], delivered: 10 })
  })

  it('copies of an honest member\'s old presence flooded by another member do not keep its new presence from the victim', async () => {
    // property: an old presence note (which changes nothing) must not spend its sender's presence budget: else a third
    // member replaying it keeps the sender's updates out (presence is not sent again, so the victim keeps the old value) and gets the sender blamed
    const { a, b, roomA, roomB, roomC } = await trio('notes-presence-copies')
    const refusedByA = rejections(a)
    const heldAtC = (): any => (impl(roomC).notes.presence as any).held.get(b.peerId)

    await roomB.setPresence({ v: 0 })
    await until(() => (presenceOf(roomA, b.peerId) as any)?.v === 0 && heldAtC()?.value?.v === 0, 'v0 at a and c')
    const old: Uint8Array<ArrayBuffer> = heldAtC().note.bytes

    // 45 copies every 50 ms (900 a second, within one stream's 1000): each is verified, changes nothing
    const attack = flood(roomC, a.peerId, old, 45, 50)
    floods.push(attack)
    await until(() => attack.sent() >= 900, 'the flood to begin')

    for (let v = 1; v <= 5; v++) {
      await roomB.setPresence({ v })
      await delay(200)
    }

    // c, which no one floods, gets the newest: a should too
    await until(() => heldAtC()?.value?.v === 5, 'v5 at c')
    try {
      await until(() => (presenceOf(roomA, b.peerId) as any)?.v === 5, 'v5 at a', 10_000, () => ({ atA: presenceOf(roomA, b.peerId), blamedB: naming(refusedByA, b.peerId), copies: attack.sent() }))
    } finally {
      await attack.stop()
    }
    expect(naming(refusedByA, b.peerId), 'b is not blamed').to.be.empty()
  })

  it('a malformed presence of the attacker, passed on by an honest member at the attacker\'s asking, gets only the attacker blamed', async () => {
    // property: an honest forwarder must not be blamed (nor have its stream reset) for a note it passed on; so it checks what it
    // passes on as the recipients will (presence JSON and size), or recipients must not blame it. Here c asks b to pass on
    // its presence with json set and data that is not JSON; b forwards it before take() refuses it, and a then resets b.
    const { a, b, c, roomA, roomB, roomC, cKey } = await trio('notes-malformed-forwarded')
    const refusedByA = rejections(a)
    const refusedByB = rejections(b)
    const sessionAB = impl(roomA).getMember(b.peerId)!.session

    const bad = await note(roomC, { kind: 'presence', sender: c.peerId, data: encode('{not json'), json: true }, cKey)
    await sessionOf(roomC, b.peerId)!.send({ note: bad, forwardTo: [idBytes(a.peerId)] })
    await until(() => naming(refusedByB, c.peerId).length > 0, 'b to refuse c\'s presence')

    // a note of b's after it, on the same stream: a has read the passed-on note once it has this one (or reset b's stream)
    const ephemeralAtA = collect<EphemeralMessage>(roomA, 'ephemeral')
    await roomB.send(encode('after'), { ephemeral: true })
    await until(() => ephemeralAtA.length > 0 || naming(refusedByA, b.peerId).length > 0, 'a to read b\'s stream')

    expect(naming(refusedByA, b.peerId), 'a does not blame b, which only passed it on').to.deep.equal([])
    expect(impl(roomA).getMember(b.peerId)!.session, 'a keeps its stream with b').to.equal(sessionAB)
    expect(presenceOf(roomA, c.peerId)).to.equal(undefined)
  })

  it('malformed, future-dated, self-addressed and non-member notes are refused with typed errors and change nothing', async () => {
    // property: each refusal is typed and reported (the tolerable ones once a minute, the stream kept), and none is taken
    const { a, c, roomA, roomC, cKey } = await trio('notes-malformed')
    const refusedByA = rejections(a)
    const taken = {
      ephemeral: collect<EphemeralMessage>(roomA, 'ephemeral'),
      direct: collect<DirectMessage>(roomA, 'direct'),
      presence: collect<PresenceInfo>(roomA, 'presence')
    }
    const keyOfA = impl(roomA).ctx.components.privateKey
    const stranger = await generateKeyPair('Ed25519')
    const session = impl(roomA).getMember(c.peerId)!.session

    // c's presence dated an hour ahead: stale, reported, stream kept
    await sessionOf(roomC, a.peerId)!.send({ note: await note(roomC, { kind: 'presence', sender: c.peerId, data: encode('"future"'), json: true, timestamp: Date.now() + 3_600_000 }, cKey) })
    await until(() => naming(refusedByA, c.peerId).some(r => r.startsWith('StaleNoteError')), 'a to refuse the future presence')

    // a non-member's note passed on, and notes in a's own name (one forged, one a's genuine signature): dropped, stream kept
    await sessionOf(roomC, a.peerId)!.sendMany([
      { note: await note(roomC, { kind: 'ephemeral', sender: peerIdFromPrivateKey(stranger), data: encode('stranger') }, stranger) },
      { note: await note(roomC, { kind: 'direct', sender: a.peerId, recipient: a.peerId, data: encode('from myself?') }, cKey) },
      { note: await note(roomC, { kind: 'ephemeral', sender: a.peerId, data: encode('my own') }, keyOfA) }
    ])
    await roomC.send(encode('marker'), { ephemeral: true })
    await until(() => taken.ephemeral.length > 0, 'a to read them')
    expect(impl(roomA).getMember(c.peerId)!.session, 'tolerable refusals keep the stream').to.equal(session)
    expect(impl(roomA).getMember(peerIdFromPrivateKey(stranger))).to.equal(undefined)

    // an ephemeral note with a recipient (a shape sealRoomNote refuses): malformed, the stream reset
    const shaped = await rawNote({ room: impl(roomA).id as Uint8Array<ArrayBuffer>, kind: RoomNoteMessage.Kind.EPHEMERAL, recipient: idBytes(a.peerId), data: encode('shaped') }, cKey)
    await sessionOf(roomC, a.peerId)!.send({ note: shaped })
    await until(() => naming(refusedByA, c.peerId).some(r => r.startsWith('InvalidMessageError')), 'a to refuse the misshapen note')

    expect(taken.ephemeral.map(e => decode(e.data)), 'only c\'s genuine marker').to.deep.equal(['marker'])
    expect(taken.direct).to.be.empty()
    expect(taken.presence).to.be.empty()
    expect(roomA.presence).to.be.empty()
    expect((impl(roomA).notes as any).ids.get(a.peerId), 'nothing remembered in a\'s own name').to.equal(undefined)
  })

  it('rates: a member flooding its own ephemeral notes has the excess dropped and reported once, keeps its stream, and is remembered for what was taken; a member at the documented rates is never refused', async () => {
    // property 1: the per-sender receive rate (2 x EPHEMERAL_PER_SECOND) holds for notes written by hand, refusals are reported once a minute,
    // the flooder keeps its stream, others' notes still flow, and the ids remembered for it are only those taken (bounded by MAX_NOTE_IDS_PER_SENDER);
    // property 2: an honest member sending what its own limits allow (EPHEMERAL_PER_SECOND ephemeral and DIRECT_PER_SECOND direct
    // messages a second) for longer than MAX_NOTE_IDS_PER_SENDER / (EPHEMERAL_PER_SECOND + DIRECT_PER_SECOND) seconds is never refused or blamed
    const { a, b, c, roomA, roomB, roomC, cKey } = await trio('notes-rates')
    const refusedByA = rejections(a)
    const ephemeralAtA = collect<EphemeralMessage>(roomA, 'ephemeral')
    const directAtA = collect<DirectMessage>(roomA, 'direct')
    const session = impl(roomA).getMember(c.peerId)!.session
    const ofC = (): number => ephemeralAtA.filter(e => e.sender.equals(c.peerId)).length

    // b sends at its documented rates: each tick (a little over a second, so its own fixed windows never overlap) EPHEMERAL_PER_SECOND
    // ephemeral and DIRECT_PER_SECOND direct messages, for longer than the ids are remembered (NOTE_MAX_AGE)
    const ticks = 36
    const honest = { ephemeral: 0, direct: 0, failures: [] as string[] }
    const directs: Array<Promise<void>> = []
    const sending = (async () => {
      for (let t = 0; t < ticks; t++) {
        const started = Date.now()
        directs.push(...Array.from({ length: DIRECT_PER_SECOND }, async (_, i) => {
          honest.direct++
          await roomB.sendTo(a.peerId, encode(`d${t}.${i}`), { timeout: 20_000 }).catch(err => { honest.failures.push(`sendTo: ${err.name}`) })
        }))
        await Promise.all(Array.from({ length: EPHEMERAL_PER_SECOND }, async (_, i) => {
          honest.ephemeral++
          await roomB.send(encode(`e${t}.${i}`), { ephemeral: true }).catch(err => { honest.failures.push(`send: ${err.name}`) })
        }))
        await delay(Math.max(0, 1100 - (Date.now() - started)))
      }
    })()

    const burst = async (n: number, tag: string): Promise<void> => {
      const notes = await Promise.all(Array.from({ length: n }, async (_, i) => note(roomC, { kind: 'ephemeral', sender: c.peerId, data: encode(`${tag}${i}`) }, cKey)))
      await sessionOf(roomC, a.peerId)!.sendMany(notes.map(bytes => ({ note: bytes })))
      // (b's marker written by hand, outside its own send limit)
      const marker = await note(roomB, { kind: 'ephemeral', sender: b.peerId, data: encode(`after ${tag}`) }, impl(roomB).ctx.components.privateKey)
      await sessionOf(roomB, a.peerId)!.send({ note: marker })
    }

    await burst(300, 'x')
    await until(() => ephemeralAtA.some(e => decode(e.data) === 'after x'), 'b\'s note during the flood')
    await delay(1500)
    const firstWindow = ofC()
    expect(firstWindow, `at most 2 x ${EPHEMERAL_PER_SECOND} in a second`).to.be.at.most(2 * EPHEMERAL_PER_SECOND + 1).and.at.least(EPHEMERAL_PER_SECOND)

    await burst(300, 'y')
    await until(() => ephemeralAtA.some(e => decode(e.data) === 'after y'), 'b\'s note during the second flood')
    await delay(1500)

    const rateRefusals = naming(refusedByA, c.peerId).filter(r => r.startsWith('RateLimitError'))
    expect(rateRefusals, 'reported once a minute').to.have.lengthOf(1)
    expect(impl(roomA).getMember(c.peerId)!.session, 'the flooder keeps its stream').to.equal(session)
    expect(ofC(), `the second second takes at most 2 x ${EPHEMERAL_PER_SECOND} more`).to.be.at.most(firstWindow + 2 * EPHEMERAL_PER_SECOND + 1)
    expect((impl(roomA).notes as any).ids.get(c.peerId).size, 'ids only of notes taken').to.equal(ofC())

    await sending
    await Promise.all(directs)
    const ofB = ephemeralAtA.filter(e => e.sender.equals(b.peerId) && !decode(e.data).startsWith('after')).length
    expect({
      blamedB: [...new Set(naming(refusedByA, b.peerId))],
      failures: honest.failures.length,
      ephemeralLost: honest.ephemeral - ofB,
      directLost: honest.direct - directAtA.length
    }, `b sent ${honest.ephemeral} ephemeral and ${honest.direct} direct messages in ${ticks} ticks; a remembers ${(impl(roomA).notes as any).ids.get(b.peerId)?.size} ids of b (bound ${MAX_NOTE_IDS_PER_SENDER})`)
      .to.deep.equal({ blamedB: [], failures: 0, ephemeralLost: 0, directLost: 0 })
  })

  it('more requests than MAX_REQUESTS_IN_FLIGHT_PER_MEMBER at once: the rest refused at once, the handler never runs more than that many of one member', async () => {
    // property: a member cannot make the victim handle more than MAX_REQUESTS_IN_FLIGHT_PER_MEMBER of its requests at once,
    // is answered once per request, and the responses kept for it stay within MAX_KEPT_RESPONSES_PER_MEMBER
    const { a, c, roomA, roomB, roomC } = await trio('notes-request-flood')
    let running = 0
    let most = 0
    let handledOfC = 0
    let release: (() => void) | undefined
    const gate = new Promise<void>(resolve => { release = resolve })
    roomA.handleRequest(async (request) => {
      if (request.sender.equals(c.peerId)) {
        handledOfC++
      }

      if (!request.sender.equals(c.peerId)) {
        return encode(`ok ${decode(request.data)}`)
      }

      running++
      most = Math.max(most, running)

      try {
        await gate
        return encode(`ok ${decode(request.data)}`)
      } finally {
        running--
      }
    })

    const total = 40
    const outcomes: string[] = []
    const requests = Array.from({ length: total }, async (_, i) => roomC.request(a.peerId, encode(`r${i}`), { timeout: 30_000 })
      .then(data => { outcomes.push(decode(data)) }, err => { outcomes.push(`${err.name}: ${err.message}`) }))

    const refused = (): string[] => outcomes.filter(o => o.startsWith('RequestFailedError'))
    await until(() => refused().length === total - MAX_REQUESTS_IN_FLIGHT_PER_MEMBER && running === MAX_REQUESTS_IN_FLIGHT_PER_MEMBER, 'the rest refused', 20_000, () => ({ outcomes, running }))
    expect(refused().every(o => o.includes('busy')), 'refused as busy').to.be.true()

    // another member is not held up by c's requests
    expect(decode(await roomB.request(a.peerId, encode('b'), { timeout: 20_000 }))).to.equal('ok b')

    // the copies c sends again while they are handled start nothing new
    await delay(2000)
    expect(handledOfC).to.equal(MAX_REQUESTS_IN_FLIGHT_PER_MEMBER)

    release?.()
    await Promise.all(requests)
    expect(outcomes.filter(o => o.startsWith('ok '))).to.have.lengthOf(MAX_REQUESTS_IN_FLIGHT_PER_MEMBER)
    expect(most, 'the handler ran at most this many at once').to.be.at.most(MAX_REQUESTS_IN_FLIGHT_PER_MEMBER)
    expect(handledOfC).to.equal(MAX_REQUESTS_IN_FLIGHT_PER_MEMBER)
    expect((impl(roomA).notes.direct as any).answers.get(c.peerId).size, 'responses kept within bound').to.be.at.most(MAX_KEPT_RESPONSES_PER_MEMBER)
  })

  it('a member that leaves is forgotten (ids, presence, answers), and coming back with its requests still under way it cannot have more than MAX_REQUESTS_IN_FLIGHT_PER_MEMBER handled at once', async () => {
    // property 1: every map keyed by a remote member forgets it when it leaves, and handlers finishing afterwards add nothing back;
    // property 2: the in-flight bound holds per member whatever it does: leaving with requests under way and joining again
    // (same key) must not let it have more of them handled at once (the handler heeds its signal, so aborting it would do)
    const name = 'notes-forget'
    const { a, c, roomA, roomC } = await trio(name)
    const notesA = impl(roomA).notes as any
    let release: (() => void) | undefined
    const gate = new Promise<void>(resolve => { release = resolve })
    let runningOfC = 0
    let mostOfC = 0
    let handled = 0
    roomA.handleRequest(async (request, options) => {
      handled++

      if (!decode(request.data).startsWith('slow')) {
        return encode('ok')
      }

      runningOfC++
      mostOfC = Math.max(mostOfC, runningOfC)

      try {
        await new Promise<void>((resolve, reject) => {
          void gate.then(resolve)
          options.signal?.addEventListener('abort', () => { reject(new Error('aborted')) }, { once: true })
        })
        return encode('ok')
      } finally {
        runningOfC--
      }
    })
    const directAtA = collect<DirectMessage>(roomA, 'direct')

    await roomC.setPresence({ here: true })
    await roomC.send(encode('e'), { ephemeral: true })
    await roomC.sendTo(a.peerId, encode('d'))
    await roomC.request(a.peerId, encode('fast'))
    const first = Array.from({ length: MAX_REQUESTS_IN_FLIGHT_PER_MEMBER }, async (_, i) => roomC.request(a.peerId, encode(`slow${i}`), { timeout: 60_000 }).catch(() => {}))
    await until(() => runningOfC === MAX_REQUESTS_IN_FLIGHT_PER_MEMBER && presenceOf(roomA, c.peerId) != null && directAtA.length === 1, 'c\'s notes at a', 20_000, () => ({ runningOfC }))
    expect(notesA.ids.get(c.peerId)?.size).to.be.at.least(3)
    expect(notesA.presence.held.get(c.peerId)).to.not.equal(undefined)
    expect(notesA.direct.answers.get(c.peerId)?.size).to.equal(1 + MAX_REQUESTS_IN_FLIGHT_PER_MEMBER)

    await roomC.leave()
    await Promise.all(first)
    await until(() => roomA.member(c.peerId) == null, 'a to remove c')
    expect(notesA.ids.get(c.peerId), 'ids').to.equal(undefined)
    expect(notesA.presence.held.get(c.peerId), 'presence held').to.equal(undefined)
    expect(notesA.direct.answers.get(c.peerId), 'answers').to.equal(undefined)
    expect(roomA.presence).to.be.empty()

    // c joins again (same node, same key) while a still handles its first requests
    const again = await c.services.mesh.join(name)
    await until(() => roomA.member(c.peerId)?.state === 'direct' && again.member(a.peerId)?.state === 'direct', 'c back at a', 30_000)
    const outcomes: string[] = []
    const second = Array.from({ length: MAX_REQUESTS_IN_FLIGHT_PER_MEMBER }, async (_, i) => again.request(a.peerId, encode(`slow again ${i}`), { timeout: 60_000 })
      .then(() => { outcomes.push('ok') }, err => { outcomes.push(err.name) }))
    const refused = (): number => outcomes.filter(o => o === 'RequestFailedError').length
    await until(() => refused() + runningOfC - MAX_REQUESTS_IN_FLIGHT_PER_MEMBER >= MAX_REQUESTS_IN_FLIGHT_PER_MEMBER, 'each of the second requests refused or handled', 20_000, () => ({ outcomes, runningOfC }))
    const most = mostOfC

    release?.()
    await Promise.all(second)
    await again.leave()
    await until(() => roomA.member(c.peerId) == null, 'a to remove c again')
    await delay(500)
    expect(notesA.ids.get(c.peerId), 'ids, at last').to.equal(undefined)
    expect(notesA.direct.answers.get(c.peerId), 'answers, at last (handlers that finished after c left add none back)').to.equal(undefined)
    expect(most, `requests of c handled at once (${refused()} of the second ${MAX_REQUESTS_IN_FLIGHT_PER_MEMBER} refused)`).to.be.at.most(MAX_REQUESTS_IN_FLIGHT_PER_MEMBER)
    expect(handled).to.be.at.least(1 + MAX_REQUESTS_IN_FLIGHT_PER_MEMBER)
  })
})
