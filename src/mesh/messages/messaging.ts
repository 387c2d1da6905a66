import { InvalidParametersError } from '@libp2p/interface'
import { PeerSet } from '@libp2p/peer-collections'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { sealRoomMessage } from '../envelope/message.ts'
import { MESSAGE_ENVELOPE_OVERHEAD } from './constants.ts'
import { MessageLog, streamKey } from './log.ts'
import { replayFrom } from './replay.ts'
import { RoomStore } from './store.ts'
import type { HeldRange } from './log.ts'
import type { Member } from './member.ts'
import type { Heartbeat, MeshMessage } from './pb/mesh.ts'
import type { RoomImpl } from './room.ts'
import type { Head, SignedRoomMessage } from '../envelope/message.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * One sender's epoch as this member receives it.
 */
interface Inbound {
  sender: PeerId
  epoch: number
  key: string
  /** the next seq to deliver */
  next: number
  /** the sender's last seq as its heartbeats tell, and since when we lag it */
  sent: number
  behindSince?: number
  /** members that answered a replay without holding `next` */
  notHeldBy: PeerSet
}

/**
 * A room's messages: sending (signed, queued per member), receiving in order
 * per sender without duplicates, passing messages on for members the sender
 * cannot reach, the log, and asking members for what we missed.
 */
export class Messaging {
  private readonly room: RoomImpl
  readonly log: MessageLog
  /** when this member's log started: its messages are numbered from 1 in it */
  private epoch: number
  private seq = 0
  private ownKey: string
  private readonly store?: RoomStore
  private readonly inbound = new Map<string, Inbound>()
  private readonly replayed = new WeakSet<SignedRoomMessage>()
  /** messages whose write to the datastore is under way */
  private readonly unsaved = new WeakSet<SignedRoomMessage>()
  private sealing: Promise<unknown> = Promise.resolve()

  constructor (room: RoomImpl) {
    this.room = room
    const { maxLogMessages, maxLogBytes, persist } = room.ctx.init
    this.store = persist ? new RoomStore(room.ctx.components.datastore, room.cid.toString(), room.log) : undefined
    this.log = new MessageLog(maxLogMessages, maxLogBytes, message => { void this.store?.delete(message) })
    this.epoch = Date.now()
    this.ownKey = streamKey(room.ctx.components.peerId, this.epoch)
  }

  /**
   * With `persist`, takes up where this member left the room: its epoch and
   * last seq, and its log, from which what it had delivered is known.
   */
  async start (): Promise<void> {
    if (this.store == null) {
      return
    }

    const stored = await this.store.load()

    if (stored.epoch != null) {
      this.epoch = stored.epoch
      this.seq = stored.seq
      this.ownKey = streamKey(this.room.ctx.components.peerId, this.epoch)
    } else {
      await this.store.saveSelf(this.epoch, this.seq)
    }

    const self = this.room.ctx.components.peerId

    for (const message of stored.messages) {
      const key = streamKey(message.sender, message.epoch)
      this.log.add(key, message)

      if (!message.sender.equals(self)) {
        this.inboundOf(message.sender, message.epoch)
      }
    }

    // delivered before the restart: as recorded, else what was held in order
    for (const inbound of this.inbound.values()) {
      const delivered = stored.delivered.get(inbound.key)

      if (delivered != null) {
        inbound.next = delivered + 1
        continue
      }

      const held = this.log.after(inbound.key, 0)
      inbound.next = held.length > 0 ? held[0].seq : 1

      while (this.log.has(inbound.key, inbound.next)) {
        inbound.next++
      }
    }

    // logged but not recorded as delivered (the node stopped in between):
    // delivered again, as replayed, once the app has the room
    for (const message of stored.messages) {
      this.replayed.add(message)
    }

    setTimeout(() => {
      for (const inbound of this.inbound.values()) {
        this.deliver(inbound)
      }
    }, 0)

    this.room.log('restored epoch %d (sent %d) and %d logged messages', this.epoch, this.seq, this.log.size)
  }

  /** waits for the datastore writes under way (a room that is left) */
  async stop (): Promise<void> {
    await this.sealing
    await this.store?.flush()
  }

  /**
   * Signs `data` as our next message, keeps it in the log and queues it to
   * every member we have a stream with; members we have none with get it
   * passed on by those we have, or ask for it when they are back.
   */
  async send (data: Uint8Array): Promise<SignedRoomMessage> {
    const limit = this.room.ctx.init.maxMessageSize - MESSAGE_ENVELOPE_OVERHEAD

    if (!(data instanceof Uint8Array) || data.byteLength > limit) {
      throw new InvalidParametersError(`a room message is a Uint8Array of at most ${limit} bytes`)
    }

    // sealed one after another, so the wire order is the seq order
    const sealed = this.sealing.then(async () => {
      const message = await sealRoomMessage({ room: this.room.name, epoch: this.epoch, seq: this.seq + 1, timestamp: Date.now(), data }, this.room.ctx.components.privateKey)
      // stored before it leaves: a restarted member never reuses a seq
      await this.store?.put(message)
      await this.store?.saveSelf(this.epoch, message.seq)
      this.seq = message.seq
      this.log.add(this.ownKey, message)
      this.broadcast(message)
      return message
    })
    this.sealing = sealed.catch(() => {})
    return sealed
  }

  private broadcast (message: SignedRoomMessage): void {
    const members = this.room.all().filter(member => member.known)
    const cutOff = members
      .filter(member => member.session?.open !== true)
      .map(member => member.peerId.toMultihash().bytes)

    for (const member of members) {
      if (member.session?.open === true) {
        this.enqueue(member, { message: message.envelope, forwardTo: cutOff })
      }
    }
  }

  /**
   * A room message on a member's stream: the sender's own, or one passed on
   * (to pass on in turn to `forwardTo`).
   */
  async receive (from: Member, message: SignedRoomMessage, forwardTo: Uint8Array[]): Promise<void> {
    if (message.sender.equals(this.room.ctx.components.peerId)) {
      return
    }

    this.room.checkRoster(message.sender)

    if (this.accept(message, false, from) && !from.peerId.equals(message.sender)) {
      this.forwardedFrom(message.sender)
    }

    for (const bytes of forwardTo.slice(0, this.room.ctx.init.maxMembers)) {
      let peerId: PeerId

      try {
        peerId = peerIdFromMultihash(Digest.decode(bytes))
      } catch {
        continue
      }

      const member = this.room.getMember(peerId)

      if (member != null && member !== from && !peerId.equals(message.sender) && member.session?.open === true) {
        this.enqueue(member, { message: message.envelope })
      }
    }
  }

  /** a message of `sender` reached us through another member: while we have no stream with it, that is its route */
  private forwardedFrom (sender: PeerId): void {
    const member = this.room.getMember(sender)

    if (member == null || member.session?.open === true) {
      return
    }

    const before = member.route
    member.forwardedAt = Date.now()

    if (member.route !== before) {
      this.room.updated(member)
    }
  }

  /**
   * Takes a checked message of another member into the log and delivers what
   * is now in order. Returns whether it was new.
   */
  accept (message: SignedRoomMessage, replayed: boolean, from?: Member): boolean {
    const inbound = this.inboundOf(message.sender, message.epoch)

    if (message.seq < inbound.next || !this.log.add(inbound.key, message)) {
      return false
    }

    if (this.store != null) {
      // delivered once stored: what a member that crashes had delivered is
      // in its log, and it asks again only for what it had not stored
      this.unsaved.add(message)
      void this.store.put(message).finally(() => {
        this.unsaved.delete(message)
        this.deliver(inbound)
      })
    }

    if (replayed) {
      this.replayed.add(message)
    }

    this.deliver(inbound)

    if (from != null && inbound.next < message.seq && !this.log.has(inbound.key, inbound.next)) {
      // a hole before it: ask the member it came from
      this.room.log('message %d of %p arrived before %d - asking %p', message.seq, message.sender, inbound.next, from.peerId)
      this.requestReplay(from)
    }

    return true
  }

  private inboundOf (sender: PeerId, epoch: number): Inbound {
    const key = streamKey(sender, epoch)
    let inbound = this.inbound.get(key)

    if (inbound == null) {
      inbound = { sender, epoch, key, next: 1, sent: 0, notHeldBy: new PeerSet() }
      this.inbound.set(key, inbound)
    }

    return inbound
  }

  private deliver (inbound: Inbound): void {
    if (this.room.isClosed) {
      return
    }

    const from = inbound.next
    let message = this.log.get(inbound.key, inbound.next)

    while (message != null && !this.unsaved.has(message)) {
      inbound.next++
      inbound.notHeldBy.clear()
      this.room.safeDispatchEvent('message', {
        detail: {
          sender: message.sender,
          epoch: message.epoch,
          seq: message.seq,
          timestamp: message.timestamp,
          data: message.data,
          replayed: this.replayed.has(message)
        }
      })
      message = this.log.get(inbound.key, inbound.next)
    }

    if (inbound.next > from) {
      this.store?.saveDelivered(inbound.key, inbound.next - 1)
    }
  }

  /** what our heartbeats tell about our messages */
  heartbeatFields (): Pick<Heartbeat, 'epoch' | 'sent' | 'held'> {
    return { epoch: BigInt(this.epoch), sent: BigInt(this.seq), held: this.log.size }
  }

  /**
   * A member's heartbeat: if it sent messages we have not had for a whole
   * interval (they are not merely behind the heartbeat on the stream), or it
   * holds messages and we have not asked it since its stream began, ask.
   */
  heard (member: Member, heartbeat: Heartbeat, now: number = Date.now()): void {
    const sent = Number(heartbeat.sent)

    if (sent > 0) {
      const inbound = this.inboundOf(member.peerId, Number(heartbeat.epoch))
      inbound.sent = Math.max(inbound.sent, sent)

      if (inbound.next > inbound.sent) {
        inbound.behindSince = undefined
      } else if (inbound.behindSince == null) {
        inbound.behindSince = now
      } else if (now - inbound.behindSince >= this.room.ctx.init.heartbeatInterval) {
        inbound.behindSince = now
        this.requestReplay(member)
      }
    }

    if (heartbeat.held > 0 && !member.askedSinceAdopt) {
      this.requestReplay(member)
    }
  }

  /** asks `member` for what we lack; one request at a time per member */
  requestReplay (member: Member): void {
    member.askedSinceAdopt = true

    if (member.replaying != null) {
      member.replayAgain = true
      return
    }

    member.replaying = replayFrom(this.room, member)
      .catch((err: Error) => {
        this.room.log('replay from %p failed - %e', member.peerId, err)
        this.room.reportIfRejected(member.peerId, err)
      })
      .finally(() => {
        member.replaying = undefined

        if (member.replayAgain && !this.room.isClosed) {
          member.replayAgain = false
          this.requestReplay(member)
        }
      })
  }

  /** per sender and epoch, the highest seq we hold in order */
  heads (): Head[] {
    return [...this.inbound.values()].map(inbound => ({ sender: inbound.sender, epoch: inbound.epoch, seq: inbound.next - 1 }))
  }

  /** what the log holds beyond `heads`, for a replay request */
  missing (heads: Head[]): SignedRoomMessage[] {
    const after = new Map(heads.map(head => [streamKey(head.sender, head.epoch), head.seq]))
    return this.log.keys().flatMap(key => this.log.after(key, after.get(key) ?? 0))
  }

  /**
   * After a replay from `member` that held `held`: what it could not give is
   * gone when the sender itself no longer holds it, or when the sender has
   * left the room and no member with a stream holds it. Each such range is
   * reported as a `gap` and skipped. While the sender is in the room, it may
   * hold what the others lack (it was cut off, or is reached only through
   * others), so nothing is skipped until it says so.
   */
  settle (member: Member, held: HeldRange[]): void {
    const open = this.room.all().filter(m => m.session?.open === true)

    for (const inbound of this.inbound.values()) {
      const end = this.missingEnd(inbound)

      if (end < inbound.next || this.log.has(inbound.key, inbound.next)) {
        continue
      }

      const range = held.find(h => h.epoch === inbound.epoch && h.sender.equals(inbound.sender))

      if (range != null && range.lowest <= inbound.next) {
        continue
      }

      inbound.notHeldBy.add(member.peerId)
      const bySender = member.peerId.equals(inbound.sender)
      const senderLeft = this.room.getMember(inbound.sender) == null

      if (bySender || (senderLeft && open.every(m => inbound.notHeldBy.has(m.peerId)))) {
        const to = Math.min(end, (range?.lowest ?? Infinity) - 1)
        this.gap(inbound, to)
      }
    }
  }

  /** the last seq we know of that we do not hold in order */
  private missingEnd (inbound: Inbound): number {
    const pending = this.log.after(inbound.key, inbound.next)
    return pending.length > 0 ? pending[0].seq - 1 : inbound.sent
  }

  private gap (inbound: Inbound, to: number): void {
    if (to < inbound.next) {
      return
    }

    const from = inbound.next
    this.room.log('messages %d-%d of %p are held by no member we reach', from, to, inbound.sender)
    inbound.next = to + 1
    inbound.notHeldBy.clear()
    this.room.safeDispatchEvent('gap', { detail: { sender: inbound.sender, epoch: inbound.epoch, from, to } })
    this.deliver(inbound)
  }

  /** queues a message to a member (see `Outbox`) */
  private enqueue (member: Member, message: Partial<MeshMessage>): void {
    if (!member.outbox.push(member, message, this.room.ctx.init.maxQueuedMessages, this.room.log)) {
      this.room.log.trace('the queue to %p is full: it asks for the rest from the log', member.peerId)
    }
  }
}
