import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { PeerMap } from '@libp2p/peer-collections'
import { MessageTooLargeError } from '../../envelope/errors.ts'
import { PRESENCE_PER_SECOND } from './constants.ts'
import type { RoomNotes } from './notes.ts'
import type { SignedRoomNote } from '../../envelope/note.ts'
import type { PresenceInfo } from '../index.ts'
import type { Member } from '../member.ts'
import type { MessagingRoom } from '../messages/index.ts'
import type { PeerId } from '@libp2p/interface'

/** how often members without a stream are checked for presence to drop, ms */
const DROP_CHECK_INTERVAL = 1000

interface Held {
  /** the newest presence note of the member: its value, or that it cleared it */
  note: SignedRoomNote
  value: unknown
  /** false once cleared, or dropped (the note stays, so older ones stay out) */
  present: boolean
  /** when it arrived */
  receivedAt: number
}

interface Waiter {
  resolve(): void
  reject(err: Error): void
}

/**
 * Each member's presence: a small value it sets, never logged or replayed.
 * The newest (by its signed timestamp) wins; a member sends its own to
 * every member, at most `PRESENCE_PER_SECOND` times a second (faster
 * updates are coalesced), and when a stream begins each side sends its own
 * and those it holds, so a newcomer has them all at once. A member that
 * starts sends "none" dated from its start, which clears what an earlier
 * run of it (a page before a reload) had set. A member's presence is
 * cleared when it leaves or expires, and dropped when it has had no stream
 * and nothing of it arrived for `unreachableTimeout`.
 */
export class Presence {
  private readonly room: MessagingRoom
  private readonly notes: RoomNotes
  private readonly held = new PeerMap<Held>()
  private readonly startedAt = Date.now()
  /** our own presence as sent (or "none" since our start) */
  private own?: Promise<SignedRoomNote>
  private ownTimestamp = 0
  /** the value to send next, and who waits for it */
  private next?: { data: Uint8Array, json: boolean, cleared: boolean, waiters: Waiter[] }
  private timer?: ReturnType<typeof setTimeout>
  private lastSentAt = -Infinity
  private dropTimer?: ReturnType<typeof setInterval>
  private stopped = false

  constructor (room: MessagingRoom, notes: RoomNotes) {
    this.room = room
    this.notes = notes
  }

  /** the presence of the other members that set one */
  get values (): PresenceInfo[] {
    return [...this.held.entries()]
      .filter(([, held]) => held.present)
      .map(([peerId, held]) => ({ peerId, value: held.value, updatedAt: held.note.timestamp }))
  }

  /**
   * Sets our presence (`undefined` clears it) and sends it to every member;
   * resolves once it is signed and queued. Calls faster than
   * `PRESENCE_PER_SECOND` are coalesced: the newest value goes when the
   * interval has passed, and every call before it resolves then.
   *
   * @throws {InvalidParametersError} a value that is not a Uint8Array or JSON, or larger than `maxPresenceSize`
   */
  async set (value: unknown): Promise<void> {
    const { data, json } = encode(value)

    if (data.byteLength > this.room.ctx.init.maxPresenceSize) {
      throw new InvalidParametersError(`a presence value is at most ${this.room.ctx.init.maxPresenceSize} bytes (as JSON text unless a Uint8Array)`)
    }

    if (this.stopped) {
      return
    }

    return new Promise<void>((resolve, reject) => {
      this.next = { data, json, cleared: value === undefined, waiters: [...(this.next?.waiters ?? []), { resolve, reject }] }

      if (this.timer == null) {
        const wait = this.lastSentAt + 1000 / PRESENCE_PER_SECOND - Date.now()
        this.timer = setTimeout(() => { void this.flush() }, Math.max(0, wait))
      }
    })
  }

  /** signs and sends the newest value set */
  private async flush (): Promise<void> {
    this.timer = undefined
    const next = this.next
    this.next = undefined

    if (next == null || this.stopped) {
      next?.waiters.forEach(waiter => { waiter.resolve() })
      return
    }

    this.lastSentAt = Date.now()
    // strictly increasing, so every member takes the newest
    this.ownTimestamp = Math.max(Date.now(), this.ownTimestamp + 1)
    const sealing = this.notes.seal({ kind: 'presence', data: next.data, json: next.json, cleared: next.cleared, timestamp: this.ownTimestamp })

    try {
      const note = await sealing
      const current = await this.own?.catch(() => undefined)

      if (current == null || current.timestamp < note.timestamp) {
        this.own = sealing
      }

      this.notes.broadcast(note)
      next.waiters.forEach(waiter => { waiter.resolve() })
    } catch (err: any) {
      next.waiters.forEach(waiter => { waiter.reject(err) })
    }
  }

  /**
   * A member's stream began: it gets our presence ("none" since our start
   * if we set none) and the presence we hold of the others.
   */
  streamBegan (member: Member): void {
    this.ownTimestamp = Math.max(this.ownTimestamp, this.startedAt)
    this.own ??= this.notes.seal({ kind: 'presence', data: new Uint8Array(0), cleared: true, timestamp: this.startedAt })
    const own = this.own

    void own.then(note => {
      if (member.session?.open === true) {
        this.notes.deliver(note, member.peerId)
      }
    }).catch(err => {
      this.room.log.error('could not sign our presence - %e', err)
    })

    for (const [peerId, held] of this.held.entries()) {
      if (held.present && !peerId.equals(member.peerId)) {
        this.notes.deliver(held.note, member.peerId)
      }
    }
  }

  /**
   * Whether a presence note is newer than the one held of its sender. One
   * as old as the one held is news only when that one was dropped and it
   * comes on the sender's own stream (it sends it again when its stream
   * begins again): a member passing on a copy cannot bring a dropped value
   * back.
   */
  isNews (note: SignedRoomNote, own: boolean): boolean {
    const held = this.held.get(note.sender)
    return held == null || note.timestamp > held.note.timestamp ||
      (note.timestamp === held.note.timestamp && own && !held.present && !note.cleared)
  }

  /**
   * The value a presence note carries (`undefined` when it clears it).
   *
   * @throws {MessageTooLargeError | InvalidMessageError} a value too large, or not JSON where it says it is
   */
  check (note: SignedRoomNote): unknown {
    if (note.data.byteLength > this.room.ctx.init.maxPresenceSize) {
      throw new MessageTooLargeError(`a presence value of ${note.data.byteLength} bytes is larger than ${this.room.ctx.init.maxPresenceSize}`)
    }

    return note.cleared ? undefined : decode(note)
  }

  /** a presence note that is news (see `isNews`), checked (see `check`), with its value */
  take (note: SignedRoomNote, value: unknown): void {
    const held = this.held.get(note.sender)
    this.held.set(note.sender, { note, value, present: !note.cleared, receivedAt: Date.now() })

    if (!note.cleared || held?.present === true) {
      this.room.safeDispatchEvent('presence', { detail: { peerId: note.sender, value, updatedAt: note.timestamp } })
    }

    this.dropTimer ??= setInterval(() => { this.dropSilent() }, DROP_CHECK_INTERVAL)
  }

  /** the member left or expired */
  forget (peerId: PeerId): void {
    this.drop(peerId)
    this.held.delete(peerId)
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    clearInterval(this.dropTimer)
    this.next?.waiters.forEach(waiter => { waiter.resolve() })
    this.next = undefined
  }

  /** clears a member's presence, keeping its note so older ones stay out */
  private drop (peerId: PeerId): void {
    const held = this.held.get(peerId)

    if (held?.present === true) {
      held.present = false
      held.value = undefined
      this.room.safeDispatchEvent('presence', { detail: { peerId, value: undefined, updatedAt: held.note.timestamp } })
    }
  }

  /** drops the presence of members without a stream we heard nothing of for `unreachableTimeout` */
  private dropSilent (): void {
    const now = Date.now()
    let present = 0

    for (const [peerId, held] of this.held.entries()) {
      if (!held.present) {
        continue
      }

      const member = this.room.getMember(peerId)
      const heard = Math.max(held.receivedAt, member?.liveness.lastHeard ?? 0, member?.forwardedAt ?? 0)

      if (member == null) {
        this.forget(peerId)
      } else if (member.session == null && now - heard > this.room.ctx.init.unreachableTimeout) {
        this.room.log('dropping the presence of %p: no stream, nothing heard for %d ms', peerId, now - heard)
        this.drop(peerId)
      } else {
        present++
      }
    }

    if (present === 0) {
      clearInterval(this.dropTimer)
      this.dropTimer = undefined
    }
  }
}

/**
 * A presence value as sent: a Uint8Array as it is, anything else as JSON
 * text; `undefined` (cleared) as nothing.
 *
 * @throws {InvalidParametersError} a value JSON cannot hold
 */
function encode (value: unknown): { data: Uint8Array, json: boolean } {
  if (value === undefined) {
    return { data: new Uint8Array(0), json: false }
  }

  if (value instanceof Uint8Array) {
    return { data: value, json: false }
  }

  let text: string | undefined

  try {
    text = JSON.stringify(value)
  } catch (err: any) {
    throw new InvalidParametersError(`a presence value is a Uint8Array or JSON: ${err.message}`)
  }

  if (text === undefined) {
    throw new InvalidParametersError('a presence value is a Uint8Array or JSON')
  }

  return { data: new TextEncoder().encode(text), json: true }
}

/**
 * @throws {InvalidMessageError} JSON text that does not parse
 */
function decode (note: SignedRoomNote): unknown {
  if (!note.json) {
    return note.data
  }

  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(note.data))
  } catch (err: any) {
    throw new InvalidMessageError(`presence of ${note.sender} is not JSON: ${err.message}`)
  }
}
