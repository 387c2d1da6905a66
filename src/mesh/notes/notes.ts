import { InvalidParametersError } from '@libp2p/interface'
import { PeerMap } from '@libp2p/peer-collections'
import { RateLimiter } from '@libp2p/utils'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { ROOM_CIPHER_OVERHEAD } from '../../envelope/cipher.ts'
import { DEFAULT_MAX_CLOCK_SKEW, ROOM_NOTE_ID_LENGTH } from '../../envelope/constants.ts'
import { Signer } from '../../envelope/keys.ts'
import { readRoomNote, sealRoomNote } from '../../envelope/note.ts'
import { NotAMemberError, StaleNoteError } from '../errors.ts'
import { broadcastRoutes, forwardersOf } from '../messages/messaging.ts'
import { DIRECT_PER_SECOND, EPHEMERAL_PER_SECOND, MAX_NOTE_IDS_PER_SENDER, NOTE_MAX_AGE, NOTE_OVERHEAD, NOTES_PER_STREAM_PER_SECOND, PRESENCE_PER_SECOND } from './constants.ts'
import { DirectMessages } from './direct.ts'
import { Presence } from './presence.ts'
import type { RoomNoteInit, RoomNoteKind, SignedRoomNote } from '../../envelope/note.ts'
import type { Member } from '../member.ts'
import type { MessagingRoom } from '../messages/index.ts'
import type { PeerId } from '@libp2p/interface'

/** a member that sends too much, or stale notes, has one reported per this many ms */
const REPORT_INTERVAL = 60_000

/** what a note is, for its sender's rate limit */
type Budget = 'ephemeral' | 'presence' | 'direct'

const BUDGETS: Record<RoomNoteKind, Budget> = {
  ephemeral: 'ephemeral',
  presence: 'presence',
  direct: 'direct',
  request: 'direct',
  response: 'direct',
  receipt: 'direct'
}

/** kinds taken once, by id */
const ONCE = new Set<RoomNoteKind>(['ephemeral', 'direct', 'request'])

/**
 * What a room's members send each other that is not logged or replayed
 * (see `src/envelope/pb/room-note.proto`): presence, ephemeral messages,
 * direct messages, requests, responses and receipts. Each is signed; on the
 * sender's own stream it is authentic already (the connection is
 * authenticated with the sender's key), and its signature is checked when
 * it is passed on, kept (presence) or comes from another member. A note
 * travels on the stream with its member, else through at most
 * `FORWARDERS_PER_MEMBER` members that pass it on once (`forwardTo`).
 */
export class RoomNotes {
  readonly presence: Presence
  readonly direct: DirectMessages
  private readonly room: MessagingRoom
  private readonly signer: Signer
  /** ids of notes taken, per sender, with when each may be forgotten */
  private readonly ids = new PeerMap<Map<string, number>>()
  private readonly perStream = new RateLimiter({ points: NOTES_PER_STREAM_PER_SECOND, duration: 1, keyPrefix: 'relaymesh-notes-stream' })
  private readonly perSender: Record<Budget, RateLimiter> = {
    ephemeral: new RateLimiter({ points: 2 * EPHEMERAL_PER_SECOND, duration: 1, keyPrefix: 'relaymesh-notes-ephemeral' }),
    presence: new RateLimiter({ points: 2 * PRESENCE_PER_SECOND, duration: 1, keyPrefix: 'relaymesh-notes-presence' }),
    direct: new RateLimiter({ points: 2 * DIRECT_PER_SECOND, duration: 1, keyPrefix: 'relaymesh-notes-direct' })
  }

  /** copies of notes taken before (see `again`), and notes passed on (see `passOn`), per member that brought them */
  private readonly copies = new RateLimiter({ points: 2 * DIRECT_PER_SECOND, duration: 1, keyPrefix: 'relaymesh-notes-copies' })
  private readonly ownEphemeral = new RateLimiter({ points: EPHEMERAL_PER_SECOND, duration: 1, keyPrefix: 'relaymesh-notes-own' })
  /** when each member last had a refusal of ours reported that an honest member may meet */
  private readonly reported = new WeakMap<Member, number>()

  constructor (room: MessagingRoom) {
    this.room = room
    this.signer = new Signer(room.ctx.components.privateKey)
    this.presence = new Presence(room, this)
    this.direct = new DirectMessages(room, this)
  }

  /** the largest data a note may carry */
  get maxDataSize (): number {
    return this.room.ctx.init.maxMessageSize - NOTE_OVERHEAD - (this.room.cipher == null ? 0 : ROOM_CIPHER_OVERHEAD)
  }

  /**
   * Signs a note of ours for this room: now (or at `timestamp`), with a
   * fresh id.
   */
  async seal (init: Pick<RoomNoteInit, 'kind' | 'data'> & Partial<Pick<RoomNoteInit, 'recipient' | 'replyTo' | 'json' | 'cleared' | 'failed' | 'payload' | 'timestamp'>>): Promise<SignedRoomNote> {
    const id = globalThis.crypto.getRandomValues(new Uint8Array(ROOM_NOTE_ID_LENGTH))
    return sealRoomNote({ room: this.room.id, sender: this.room.ctx.components.peerId, timestamp: Date.now(), id, ...init }, this.signer, { cipher: this.room.cipher })
  }

  /**
   * Signs `data` as an ephemeral message and queues it to every member.
   *
   * @throws {InvalidParametersError} `data` is not a Uint8Array of at most `maxDataSize` bytes
   * @throws {RateLimitError} this member sent `EPHEMERAL_PER_SECOND` this second
   */
  async sendEphemeral (data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array) || data.byteLength > this.maxDataSize) {
      throw new InvalidParametersError(`an ephemeral message is a Uint8Array of at most ${this.maxDataSize} bytes`)
    }

    this.ownEphemeral.consume('self')
    this.broadcast(await this.seal({ kind: 'ephemeral', data }))
  }

  /**
   * Queues a note for every member to every member we have a stream with;
   * each known member we have none with is named in the `forwardTo` of at
   * most `FORWARDERS_PER_MEMBER` of them.
   */
  broadcast (note: SignedRoomNote): void {
    const { open, forwardTo } = broadcastRoutes(this.room.all())

    for (const member of open) {
      this.enqueue(member, note, forwardTo.get(member))
    }
  }

  /**
   * Queues a note for one member: on its stream, else to members that pass
   * it on (others on each `attempt`). Returns whether it went anywhere.
   */
  deliver (note: SignedRoomNote, recipient: PeerId, attempt = 0): boolean {
    const member = this.room.getMember(recipient)

    if (member?.session?.open === true) {
      this.enqueue(member, note)
      return true
    }

    const open = this.room.all().filter(m => m.session?.open === true && !m.peerId.equals(recipient))

    if (open.length === 0) {
      return false
    }

    const rotated = [...open.slice(attempt % open.length), ...open.slice(0, attempt % open.length)]
    const id = recipient.toMultihash().bytes as Uint8Array<ArrayBuffer>

    for (const forwarder of forwardersOf(id, rotated)) {
      this.enqueue(forwarder, note, [id])
    }

    return true
  }

  /** a member's stream began: it gets the presence we know */
  streamBegan (member: Member): void {
    this.presence.streamBegan(member)
    this.direct.streamBegan(member.peerId)
  }

  /**
   * A note on a member's stream: its sender's own or one passed on (to pass
   * on in turn to `forwardTo`). Refusals an honest member may meet too (a
   * stale note, a sender over its rate, a sender that is no longer a member)
   * are reported once a minute per member and the note dropped; the others
   * are thrown.
   *
   * @throws {Error} a refusal (malformed, oversize, cross-room, non-roster or forged note), so the stream is reset
   */
  async receive (from: Member, bytes: Uint8Array, forwardTo: Uint8Array[]): Promise<void> {
    if (this.room.isClosed) {
      return
    }

    try {
      this.perStream.consume(from.peerId.toString())
    } catch (err: any) {
      this.tolerate(from, err, ['more than %d notes in a second', NOTES_PER_STREAM_PER_SECOND])
      return
    }

    const { note, verify } = readRoomNote(bytes, { room: this.room.id, maxSize: this.room.ctx.init.maxMessageSize })
    const self = this.room.ctx.components.peerId

    if (note.sender.equals(self)) {
      return
    }

    this.room.checkRoster(note.sender)
    const own = from.peerId.equals(note.sender)
    const sender = own ? from : this.room.getMember(note.sender)

    if (sender == null) {
      this.tolerate(from, new NotAMemberError(`${from.peerId} passed on a note of ${note.sender}, not a member`))
      return
    }

    const now = Date.now()

    if (note.timestamp > now + DEFAULT_MAX_CLOCK_SKEW || (note.kind !== 'presence' && note.timestamp < now - NOTE_MAX_AGE)) {
      this.tolerate(from, new StaleNoteError(`a ${note.kind} note of ${note.sender} signed at ${note.timestamp}, ${now - note.timestamp} ms ago`))
      return
    }

    if (note.recipient != null && !note.recipient.equals(self)) {
      await this.passOn(from, note, verify, forwardTo)
      return
    }

    const key = uint8ArrayToString(note.id, 'base16')

    if (ONCE.has(note.kind) && this.ids.get(note.sender)?.has(key) === true) {
      await this.again(from, note, own ? undefined : verify)
      return
    }

    if (note.kind === 'presence' && !this.presence.isNews(note, own)) {
      // a copy, or older than what we hold: nothing to take, pass on or count
      this.room.log.trace('presence of %p from %p is not news', note.sender, from.peerId)
      return
    }

    if (own && !this.withinRate(from, note)) {
      return
    }

    if (!own || note.kind === 'presence' || forwardTo.length > 0) {
      // passed on, kept or passed on by us: we must not be blamed for it
      await verify(this.room.ctx.verifier, { signal: this.room.signal })

      // a copy that came another way while we checked this one is taken once
      if ((ONCE.has(note.kind) && this.ids.get(note.sender)?.has(key) === true) || (note.kind === 'presence' && !this.presence.isNews(note, own))) {
        return
      }
    }

    if (!own && !this.withinRate(from, note)) {
      return
    }

    let value: unknown

    try {
      // what is in it, before it is taken or passed on
      value = this.content(note)
    } catch (err: any) {
      if (own && err.name !== 'MessageTooLargeError') {
        throw err
      }

      // too large for our own settings (the sender's may differ), or passed
      // on: dropped, and reported against its (checked) sender
      this.tolerate(from, err, undefined, note.sender)
      return
    }

    if (ONCE.has(note.kind) && !this.remember(note, key, now)) {
      this.tolerate(from, new StaleNoteError(`${note.sender} has ${MAX_NOTE_IDS_PER_SENDER} notes younger than ${NOTE_MAX_AGE} ms`), undefined, note.sender)
      return
    }

    if (note.recipient == null) {
      this.forward(from, note, forwardTo)
    }

    switch (note.kind) {
      case 'ephemeral':
        this.room.safeDispatchEvent('ephemeral', { detail: { sender: note.sender, timestamp: note.timestamp, data: note.data } })
        break
      case 'presence':
        this.presence.take(note, value)
        break
      default:
        this.direct.take(note)
    }
  }

  /** takes a note from its sender's budget; false (reported against the sender) when it is used up */
  private withinRate (from: Member, note: SignedRoomNote): boolean {
    try {
      this.perSender[BUDGETS[note.kind]].consume(note.sender.toString())
      return true
    } catch (err: any) {
      this.tolerate(from, err, ['%p sent more %s notes than allowed in a second', note.sender, BUDGETS[note.kind]], note.sender)
      return false
    }
  }

  /**
   * A note taken before came again: its sender got no answer and sent it
   * again. Answered again (a copy passed on by another member once its
   * signature is checked), each copy charged to the member that brought it.
   */
  private async again (from: Member, note: SignedRoomNote, verify?: (verifier: MessagingRoom['ctx']['verifier'], options?: { signal?: AbortSignal }) => Promise<void>): Promise<void> {
    try {
      this.copies.consume(from.peerId.toString())
    } catch {
      this.room.log.trace('%p brought more copies of notes than allowed in a second', from.peerId)
      return
    }

    await verify?.(this.room.ctx.verifier, { signal: this.room.signal })
    this.direct.again(note)
  }

  /**
   * Checks what a note carries, decrypted first in a private room (only a
   * note that is taken: one passed on or seen before is not): a presence
   * value (returned), a payload's manifest.
   *
   * @throws {MessageTooLargeError | InvalidMessageError}
   */
  private content (note: SignedRoomNote): unknown {
    if (this.room.cipher != null) {
      note.data = this.room.cipher.open(note.data, 'note')
    }

    if (note.kind === 'presence') {
      return this.presence.check(note)
    }

    if (note.payload) {
      this.room.payloads.check(note.data)
    }

    return undefined
  }

  /** forgets what we know of a member that left */
  forget (peerId: PeerId): void {
    this.ids.delete(peerId)
    this.presence.forget(peerId)
    this.direct.forget(peerId)
  }

  stop (): void {
    this.presence.stop()
    this.direct.stop()
  }

  /** a note for another member that `from` asks us to pass on (we checked it first) */
  private async passOn (from: Member, note: SignedRoomNote, verify: (verifier: MessagingRoom['ctx']['verifier'], options?: { signal?: AbortSignal }) => Promise<void>, forwardTo: Uint8Array[]): Promise<void> {
    const recipient = note.recipient!
    const target = this.room.getMember(recipient)
    const asked = forwardTo.some(bytes => uint8ArrayEquals(bytes, recipient.toMultihash().bytes))

    if (!asked || target == null || target === from || target.session?.open !== true) {
      this.room.log.trace('not passing a %s note of %p on to %p: not asked, or no stream with it', note.kind, note.sender, recipient)
      return
    }

    try {
      this.copies.consume(from.peerId.toString())
    } catch {
      this.room.log.trace('%p asked us to pass on more notes than allowed in a second', from.peerId)
      return
    }

    await verify(this.room.ctx.verifier, { signal: this.room.signal })
    this.enqueue(target, note)
  }

  /** passes a note for every member on to those `from` named (we took it first) */
  private forward (from: Member, note: SignedRoomNote, forwardTo: Uint8Array[]): void {
    for (const bytes of forwardTo.slice(0, this.room.ctx.init.maxMembers)) {
      const member = this.room.all().find(m => uint8ArrayEquals(m.peerId.toMultihash().bytes, bytes))

      if (member != null && member !== from && !member.peerId.equals(note.sender) && member.session?.open === true) {
        this.enqueue(member, note)
      }
    }
  }

  /** records that a note was taken; false when its sender has too many remembered */
  private remember (note: SignedRoomNote, key: string, now: number): boolean {
    let ids = this.ids.get(note.sender)

    if (ids == null) {
      ids = new Map()
      this.ids.set(note.sender, ids)
    }

    if (ids.size >= MAX_NOTE_IDS_PER_SENDER) {
      for (const [id, until] of ids) {
        if (until < now) {
          ids.delete(id)
        }
      }

      if (ids.size >= MAX_NOTE_IDS_PER_SENDER) {
        return false
      }
    }

    // refused as stale from then on
    ids.set(key, Math.max(now, note.timestamp) + NOTE_MAX_AGE)
    return true
  }

  private enqueue (member: Member, note: SignedRoomNote, forwardTo?: Array<Uint8Array<ArrayBuffer>>): void {
    if (!member.outbox.push(member, { frame: { note: note.bytes, forwardTo } }, this.room.ctx.init.maxQueuedMessages, this.room.log)) {
      this.room.log.trace('the queue to %p is full: a %s note is dropped', member.peerId, note.kind)
    }
  }

  /**
   * A refusal an honest member may meet too: the note is dropped, and the
   * first each minute from each member that brought one reported (against
   * `blame`, the note's sender once its signature is checked, else the
   * member), the rest logged (`trace`: a format and its arguments).
   */
  private tolerate (from: Member, err: Error, trace?: any[], blame: PeerId = from.peerId): void {
    const now = Date.now()

    if (now - (this.reported.get(from) ?? -Infinity) >= REPORT_INTERVAL) {
      this.reported.set(from, now)
      this.room.reportIfRejected(blame, err)
    } else if (trace != null) {
      this.room.log.trace(trace[0], ...trace.slice(1))
    } else {
      this.room.log.trace('%s', err.message)
    }
  }
}
