import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { decryptRoomBatch, readRoomBatch, sealRoomBatch, verifyRoomBatch } from '../../envelope/batch.ts'
import { ROOM_CIPHER_OVERHEAD } from '../../envelope/cipher.ts'
import { DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_REQUEST_AGE } from '../../envelope/constants.ts'
import { Signer } from '../../envelope/keys.ts'
import { BATCH_ENTRY_OVERHEAD, BATCH_OVERHEAD, BATCH_WINDOW, FORWARDERS_PER_MEMBER, PULL_INTERVALS, MAX_BATCH_MESSAGES, MAX_EPOCHS_PER_SENDER, MAX_REPLAY_NONCES_PER_MEMBER, MESSAGE_ENVELOPE_OVERHEAD, MISSED_BATCHES_BYTES, MISSED_BATCHES_SENT, SENDERS_PER_MEMBER_SLOT, SEQ_RESERVATION_BLOCK } from '../constants.ts'
import { EquivocationError, NotAMemberError, ReplayRefusedError, RoomClosedError } from '../errors.ts'
import { ReplayGuard } from '../replay/guard.ts'
import { requestReplay } from '../replay/request.ts'
import { InboundTracker, noteSkipped, outside } from './inbound.ts'
import { MessageLog, streamKey } from './log.ts'
import { RoomStore } from './store.ts'
import type { Inbound } from './inbound.ts'
import type { MessagingRoom } from './index.ts'
import type { HeldRange } from './log.ts'
import type { OutboxEntry } from './outbox.ts'
import type { SignedRoomBatch, SignedRoomMessage } from '../../envelope/batch.ts'
import type { RoomCipher } from '../../envelope/cipher.ts'
import type { Member } from '../member.ts'
import type { Heartbeat } from '../pb/mesh.ts'
import type { ReplayContext, ReplayLog, ReplaySource, Want } from '../replay/index.ts'
import type { Session } from '../session.ts'
import type { PeerId } from '@libp2p/interface'

/** a member passing on messages of non-members has one reported per this many ms */
const NOT_A_MEMBER_REPORT_INTERVAL = 60_000

/**
 * Where a member's numbering of its messages stands.
 */
export interface Numbering {
  epoch: number
  /** the last seq used */
  seq: number
}

/**
 * A room's messages: sending (signed, queued per member), receiving in order
 * per sender without duplicates, passing first deliveries on for members the
 * sender cannot reach, the log, asking members for what we missed and
 * answering them.
 */
export class Messaging implements ReplayLog, ReplaySource {
  private readonly room: MessagingRoom
  readonly log: MessageLog
  readonly inbound: InboundTracker
  readonly guard: ReplayGuard
  readonly context: ReplayContext
  /** when this member's log started: its messages are numbered from 1 in it */
  private epoch: number
  /** the last seq used (or, after a crash, skipped): the next batch starts after it */
  private seq = 0
  /** the last seq known to be sent (what heartbeats say) */
  private sent = 0
  /** with `persist`: seqs up to this one are reserved in the datastore */
  private reserved = 0
  private reserving?: Promise<void>
  /** after a crash: the first seq that may not have been sent (see `SignedRoomBatch.skippedFrom`) */
  private skippedFrom?: number
  private ownKey: string
  private readonly store?: RoomStore
  private readonly replayed = new WeakSet<SignedRoomMessage>()
  /** messages whose batch's write to the datastore is under way */
  private readonly unsaved = new WeakSet<SignedRoomMessage>()
  /** batches written (or being written) to the datastore */
  private readonly stored = new WeakSet<SignedRoomBatch>()
  /** batches whose signature we checked (or made) */
  private readonly verified = new WeakSet<SignedRoomBatch>()
  /** when each member last had a `NotAMemberError` reported (see `notAMember`) */
  private readonly notAMemberReported = new WeakMap<Member, number>()
  private readonly signer: Signer
  /** messages waiting to be sealed, with their callers */
  private readonly pending: Array<{ data: Uint8Array, payload: boolean, resolve(message: SignedRoomMessage): void, reject(err: Error): void }> = []
  /** members to ask for a replay, in turn, and whether one is under way */
  private readonly replayQueue: Member[] = []
  private replayRunning = false
  /** the sealing loop, while it runs (`sealingNow` says so without a tick's delay) */
  private sealing?: Promise<void>
  private sealingNow = false
  /** when the last batch was begun */
  private lastSealAt = 0
  /** when we last asked a member for what a member we cannot reach sent, and whom next */
  private lastPullAt = 0
  private pullTurn = 0

  constructor (room: MessagingRoom) {
    this.room = room
    const { init, components } = room.ctx
    this.store = init.persist ? new RoomStore(components.datastore, room.cid.toString(), room.log, err => { this.storeFailed(err) }, room.cipher) : undefined
    this.log = new MessageLog(init.maxLogMessages, init.maxLogBytes, batch => { void this.store?.delete(batch).catch(() => {}) })
    this.signer = new Signer(components.privateKey)
    this.inbound = new InboundTracker({
      maxEpochs: MAX_EPOCHS_PER_SENDER,
      maxSenders: init.maxMembers * SENDERS_PER_MEMBER_SLOT,
      isMember: sender => room.getMember(sender) != null,
      dropped: inbound => { this.dropped(inbound) }
    })
    this.guard = new ReplayGuard({ bytesPerMinute: init.replayBudget, maxNonces: MAX_REPLAY_NONCES_PER_MEMBER, nonceLifetime: DEFAULT_MAX_REQUEST_AGE + DEFAULT_MAX_CLOCK_SKEW })
    this.context = {
      room: room.tag,
      protocol: room.ctx.replayProtocol,
      privateKey: components.privateKey,
      signal: room.signal,
      init,
      // a responder's log may hold one range per message
      maxHeldRanges: Math.max(init.maxLogMessages, init.maxMembers * SENDERS_PER_MEMBER_SLOT * MAX_EPOCHS_PER_SENDER)
    }
    this.epoch = room.ctx.numbering?.epoch ?? Date.now()
    this.seq = room.ctx.numbering?.seq ?? 0
    this.sent = this.seq
    this.ownKey = streamKey(components.peerId, this.epoch)
  }

  /** the largest data a room message may carry */
  get maxDataSize (): number {
    return this.room.ctx.init.maxMessageSize - MESSAGE_ENVELOPE_OVERHEAD - (this.room.cipher == null ? 0 : ROOM_CIPHER_OVERHEAD)
  }

  /** where our numbering stands */
  get numbering (): Numbering {
    return { epoch: this.epoch, seq: this.seq }
  }

  /**
   * With `persist`, takes up where this member left the room: its epoch and
   * numbering, and its log, from which what it had delivered is known. After
   * a crash, it goes on after the seqs it had reserved: it may have sent
   * some of them without storing them.
   */
  async start (): Promise<void> {
    if (this.store == null) {
      return
    }

    const stored = await this.store.load()
    const self = this.room.ctx.components.peerId

    if (stored.epoch != null) {
      this.epoch = stored.epoch
      this.ownKey = streamKey(self, this.epoch)
      this.sent = stored.sent

      for (const message of stored.messages) {
        if (message.sender.equals(self) && message.epoch === this.epoch) {
          this.sent = Math.max(this.sent, message.seq)
        }
      }

      // (a log written before seqs were reserved may hold a batch past the
      // numbering stored after it)
      this.seq = Math.max(stored.reserved, this.sent)

      if (this.seq > this.sent) {
        this.skippedFrom = this.sent + 1
        this.room.log('seqs %d-%d were reserved before a crash: going on after them', this.skippedFrom, this.seq)
      }
    }

    await this.reserve(this.seq + 1)
    const restored = new Set<Inbound>()

    for (const message of stored.messages) {
      if (message.sender.equals(self)) {
        if (message.epoch === this.epoch) {
          this.stored.add(message.batch)
          this.log.add(this.ownKey, message)
        } else if (message.seq === message.batch.firstSeq) {
          // of an epoch whose numbering was lost: nobody asks us for it
          this.store.delete(message.batch).catch(() => {})
        }

        continue
      }

      this.stored.add(message.batch)
      const inbound = this.inbound.open(message.sender, message.epoch)

      if (inbound != null) {
        this.log.add(inbound.key, message)
        noteSkipped(inbound, message)
        restored.add(inbound)
      }
    }

    // delivered before the restart: as recorded, else what was held in order
    for (const inbound of restored) {
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
      for (const inbound of restored) {
        this.deliver(inbound)
      }
    }, 0)

    this.room.log('restored epoch %d (sent %d) and %d logged messages', this.epoch, this.seq, this.log.size)
  }

  /**
   * Waits for the batch being sealed and the datastore writes under way (a
   * room that is left), then records where the numbering stopped, so a
   * member that comes back goes on from there without skipping seqs.
   */
  async stop (): Promise<void> {
    await this.sealing
    await this.reserving?.catch(() => {})
    await this.store?.flush()
    await this.store?.saveSelf(this.epoch, this.seq, this.sent).catch(() => {})
  }

  /**
   * Makes sure seqs up to `seq` are reserved in the datastore, writing the
   * next block when they are not.
   *
   * @throws {Error} the datastore's error when the write fails
   */
  private async reserve (seq: number): Promise<void> {
    while (this.store != null && this.reserved < seq) {
      if (this.reserving == null) {
        const upTo = Math.max(seq - 1, this.seq) + SEQ_RESERVATION_BLOCK
        this.reserving = this.store.saveSelf(this.epoch, upTo, this.sent)
          .then(() => { this.reserved = Math.max(this.reserved, upTo) })
          .finally(() => { this.reserving = undefined })
      }

      await this.reserving
    }
  }

  /**
   * Queues `data` as our next message and resolves once it is signed, kept
   * in the log and queued to every member we have a stream with; members we
   * have none with get it passed on by one or two of those, or ask for it
   * when they are back. Messages sent in one tick, while a batch is being
   * sealed, or within `BATCH_WINDOW` of the last batch are sealed together
   * (at most `MAX_BATCH_MESSAGES`, and what fits in `maxMessageSize`), so a
   * message after a quiet spell waits for nothing and a steady stream costs
   * one signature per window.
   */
  async send (data: Uint8Array, options: { payload?: boolean } = {}): Promise<SignedRoomMessage> {
    const limit = this.maxDataSize

    if (!(data instanceof Uint8Array) || data.byteLength > limit) {
      throw new InvalidParametersError(`a room message is a Uint8Array of at most ${limit} bytes`)
    }

    return new Promise((resolve, reject) => {
      this.pending.push({ data, payload: options.payload === true, resolve, reject })

      if (!this.sealingNow) {
        // sends made in the same tick go in one batch; after a quiet spell
        // at once, else once BATCH_WINDOW has passed since the last batch
        this.sealingNow = true
        const wait = this.lastSealAt + BATCH_WINDOW - Date.now()
        this.sealing = (wait > 0 ? new Promise(resolve => setTimeout(resolve, wait)) : Promise.resolve()).then(async () => { await this.seal() })
      }
    })
  }

  /** seals what is pending, batch after batch, in seq order */
  private async seal (): Promise<void> {
    try {
      while (this.pending.length > 0) {
        this.lastSealAt = Date.now()
        await this.sealBatch(this.takeBatch())
      }
    } finally {
      // reached with no await after the last look at `pending`, so a send
      // made from here on starts a new loop
      this.sealingNow = false
    }
  }

  private async sealBatch (taken: typeof this.pending): Promise<void> {
    try {
      if (this.room.isClosed) {
        throw new RoomClosedError(`room "${this.room.name}" was left`)
      }

      const batch = await sealRoomBatch({
        sender: this.room.ctx.components.peerId,
        room: this.room.id,
        epoch: this.epoch,
        firstSeq: this.seq + 1,
        skippedFrom: this.skippedFrom,
        timestamp: Date.now(),
        data: taken.map(p => p.data),
        payloads: taken.flatMap((p, i) => p.payload ? [i] : []),
        cipher: this.room.cipher
      }, this.signer)
      const last = lastSeq(batch)
      this.verified.add(batch)
      // reserved before it leaves, so a restarted member never reuses a seq
      // (awaited only when the reservation ran out)
      await this.reserve(last)
      this.seq = this.sent = last
      this.skippedFrom = undefined
      batch.messages.forEach(message => this.log.add(this.ownKey, message))
      this.broadcast(batch)

      if (this.store != null) {
        // written with the next commit, not awaited: a failed write is a
        // `store:failed` event, and the members we sent it to hold it
        this.stored.add(batch)
        this.store.put(batch).catch(() => {})

        if (this.reserved - this.seq < SEQ_RESERVATION_BLOCK / 2 && this.reserving == null) {
          this.reserve(this.reserved + 1).catch(() => {})
        }
      }

      taken.forEach((p, i) => { p.resolve(batch.messages[i]) })
    } catch (err: any) {
      taken.forEach(p => { p.reject(err) })
    }
  }

  /** the pending messages that make the next batch */
  private takeBatch (): typeof this.pending {
    const budget = this.room.ctx.init.maxMessageSize - BATCH_OVERHEAD
    // a private room's messages grow by their nonce and tag when sealed
    const entry = BATCH_ENTRY_OVERHEAD + (this.room.cipher == null ? 0 : ROOM_CIPHER_OVERHEAD)
    let bytes = 0
    let count = 0

    for (const { data } of this.pending) {
      if (count === MAX_BATCH_MESSAGES || (count > 0 && bytes + data.byteLength + entry > budget)) {
        break
      }

      bytes += data.byteLength + entry
      count++
    }

    return this.pending.splice(0, count)
  }

  /**
   * Queues `batch` to every member we have a stream with. Each member we
   * have none with is named in the `forwardTo` of at most
   * `FORWARDERS_PER_MEMBER` of them, chosen by its peer id, so it gets a
   * copy from those only.
   */
  private broadcast (batch: SignedRoomBatch): void {
    const { open, forwardTo } = broadcastRoutes(this.room.all())

    const last = lastSeq(batch)

    for (const member of open) {
      this.enqueue(member, { frame: { message: batch.bytes, forwardTo: forwardTo.get(member) ?? [] }, ownSeq: last })
    }
  }

  /**
   * A member's stream began: our own batches it was never sent (it had no
   * stream when we sent them, or we did not know it yet) go to it now,
   * marked `missed`, rather than when it asks for them in a replay: the
   * newest `MISSED_BATCHES_SENT`, within `MISSED_BATCHES_BYTES` (at least
   * one). It asks for older ones in a replay as before.
   */
  sendMissed (member: Member): void {
    const missed = this.log.batchesAfter(this.ownKey, member.outbox.ownQueuedThrough)
    let first = missed.length
    let bytes = 0

    while (first > 0 && missed.length - first < MISSED_BATCHES_SENT) {
      bytes += missed[first - 1].bytes.byteLength

      if (bytes > MISSED_BATCHES_BYTES && first < missed.length) {
        break
      }

      first--
    }

    for (const batch of missed.slice(first)) {
      this.enqueue(member, { frame: { message: batch.bytes, missed: true }, ownSeq: lastSeq(batch) })
    }
  }

  /**
   * A batch of room messages on a member's stream: the sender's own, or one
   * passed on (to pass on in turn to `forwardTo` if any of it is news to
   * us). The cheap checks (is any of it new?) run before the signature is
   * checked. A batch of the member's own that it marked `missed` (see
   * `sendMissed`) is delivered as replayed.
   *
   * @throws {Error} a refusal (forged, malformed, cross-room, non-roster or equivocating batch)
   */
  async receiveLive (from: Member, bytes: Uint8Array, forwardTo: Uint8Array[], missed = false): Promise<void> {
    const batch = await this.check(bytes, from.peerId, { live: from })

    if (batch == null || !this.acceptBatch(batch, missed && from.peerId.equals(batch.sender), from)) {
      return
    }

    if (!from.peerId.equals(batch.sender)) {
      this.forwardedFrom(batch.sender)
    }

    if (forwardTo.length > 0) {
      // we pass on only what we checked: the others must not blame us
      await this.vouch(batch)
    }

    for (const bytes of forwardTo.slice(0, this.room.ctx.init.maxMembers)) {
      let peerId: PeerId

      try {
        peerId = peerIdFromMultihash(Digest.decode(bytes))
      } catch {
        continue
      }

      const member = this.room.getMember(peerId)

      if (member != null && member !== from && !peerId.equals(batch.sender) && member.session?.open === true) {
        this.enqueue(member, { frame: { message: batch.bytes } })
      }
    }
  }

  /** a batch from a replay (see `requestReplay`) */
  async receive (bytes: Uint8Array, signal: AbortSignal, from: PeerId): Promise<void> {
    const batch = await this.check(bytes, from, { signal })

    if (batch != null) {
      this.acceptBatch(batch, true)
    }
  }

  /**
   * Reads a batch and returns it when any of it is news; undefined when it
   * is our own, all duplicates, or of an epoch no longer followed. A batch
   * that `from` sends of its own is authentic already: the connection it
   * came on is authenticated with the sender's key, so its signature is
   * checked only when we pass it on (`vouch`). A batch passed on by another
   * member is checked now. A batch with other content for a seq we hold is
   * checked too (unless its sender sent it): its sender equivocated, which is
   * reported against the sender (`EquivocationError`) and the batch dropped;
   * it is thrown (so the stream is reset) only when `from` is the sender,
   * not a member that passed it on in good faith. With `live` (the member
   * whose stream it came on), a batch of a sender that is not a member is
   * dropped (see `notAMember`).
   *
   * @throws {Error} a refusal
   */
  private async check (bytes: Uint8Array, from: PeerId, options: { signal?: AbortSignal, live?: Member } = {}): Promise<SignedRoomBatch | undefined> {
    const { signal, live } = options
    const { batch, verify } = readRoomBatch(bytes, { room: this.room.id, maxSize: this.room.ctx.init.maxMessageSize })

    if (batch.sender.equals(this.room.ctx.components.peerId)) {
      return undefined
    }

    this.room.checkRoster(batch.sender)
    const own = from.equals(batch.sender)

    if (live != null && !own && this.room.roster == null && this.room.getMember(batch.sender) == null && !this.inbound.follows(batch.sender)) {
      // passed on live, messages of a key the open room holds no member for
      // and never took a message of: one member could otherwise sign with
      // thousands of fresh keys, each a sender with its own share of the
      // log, and push out what members sent. A sender we follow passes (its
      // leave may overtake its last message on a forwarder's stream); a
      // replay still brings messages of members since gone
      this.notAMember(live, batch.sender)
      return undefined
    }

    const key = streamKey(batch.sender, batch.epoch)
    let news = false

    for (const message of batch.messages) {
      const held = this.log.get(key, message.seq)

      if (held == null) {
        news ||= this.inbound.wants(batch.sender, batch.epoch, message.seq)
      } else if (held.batch !== batch && !uint8ArrayEquals(held.batch.bytes, bytes)) {
        // honest batches never overlap: other content for a seq is
        // equivocation, the same content in another batch would make us
        // keep a whole batch for one new message
        const err = held.timestamp !== message.timestamp || !uint8ArrayEquals(held.data, plaintext(message.data, this.room.cipher))
          ? new EquivocationError(`${batch.sender} signed two messages with epoch ${batch.epoch} and seq ${message.seq}`)
          : new InvalidMessageError(`a batch of ${batch.sender} overlaps one held at seq ${message.seq}`)

        if (own) {
          throw err
        }

        await verify(this.room.ctx.verifier, { signal })
        this.room.reportIfRejected(batch.sender, err)
        return undefined
      }
    }

    if (!news) {
      return undefined
    }

    // what it carries, now that some of it is new: decrypted (a private
    // room's), its payload manifests checked
    decryptRoomBatch(batch, this.room.cipher)

    for (const message of batch.messages) {
      if (message.payload) {
        this.room.payloads.check(message.data)
      }
    }

    if (!own) {
      await verify(this.room.ctx.verifier, { signal })
      this.verified.add(batch)
    }

    return batch
  }

  /**
   * Reports a batch of a sender that is not a member, passed on by `from`:
   * the first each minute from each member (an honest forwarder can meet
   * it too, when the sender was evicted from our pending ones), the rest
   * logged.
   */
  private notAMember (from: Member, sender: PeerId): void {
    const now = Date.now()

    if (now - (this.notAMemberReported.get(from) ?? -Infinity) >= NOT_A_MEMBER_REPORT_INTERVAL) {
      this.notAMemberReported.set(from, now)
      this.room.reportIfRejected(from.peerId, new NotAMemberError(`${from.peerId} passed on messages of ${sender}, not a member`))
    } else {
      this.room.log.trace('%p passed on messages of %p, not a member', from.peerId, sender)
    }
  }

  /**
   * Checks the signature of a batch we are about to pass on, once.
   *
   * @throws {InvalidSignatureError} a sender signed it wrong on its own
   * authenticated stream: we pass nothing of it on
   */
  private async vouch (batch: SignedRoomBatch, signal?: AbortSignal): Promise<void> {
    if (!this.verified.has(batch)) {
      await verifyRoomBatch(batch, this.room.ctx.verifier, { signal })
      this.verified.add(batch)
    }
  }

  /**
   * Takes a checked batch into the log and delivers what is now in order;
   * with `from`, a hole before it is asked for. Returns whether any of it
   * was new.
   */
  private acceptBatch (batch: SignedRoomBatch, replayed: boolean, from?: Member): boolean {
    let news = false

    for (const message of batch.messages) {
      news = this.accept(message, replayed) || news
    }

    const inbound = this.inbound.get(batch.sender, batch.epoch)

    if (news && from != null && inbound != null && this.hasHole(inbound)) {
      this.room.log('messages %d-%d of %p arrived before %d', batch.firstSeq, lastSeq(batch), batch.sender, inbound.next)
      this.askForHole(inbound, from)
    }

    return news
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
  accept (message: SignedRoomMessage, replayed: boolean): boolean {
    const inbound = this.inbound.open(message.sender, message.epoch)

    if (inbound == null || message.seq < inbound.next || !this.log.add(inbound.key, message)) {
      return false
    }

    noteSkipped(inbound, message)

    if (this.store != null) {
      // delivered once stored: what a member that crashes had delivered is
      // in its log, and it asks again only for what it had not stored
      this.unsaved.add(message)
      this.storeBatch(message.batch, inbound)
    }

    if (replayed) {
      this.replayed.add(message)
    }

    this.deliver(inbound)
    return true
  }

  /**
   * Writes a batch to the datastore once; its messages are delivered when
   * it is written. A failed write is reported by the store (`store:failed`)
   * and the messages are delivered all the same.
   */
  private storeBatch (batch: SignedRoomBatch, inbound: Inbound): void {
    if (this.stored.has(batch)) {
      return
    }

    this.stored.add(batch)
    void this.store?.put(batch).catch(() => {}).finally(() => {
      batch.messages.forEach(message => { this.unsaved.delete(message) })
      this.deliver(inbound)
    })
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
          data: message.payload ? new Uint8Array(0) : message.data,
          payload: message.payload ? this.room.payloads.incoming(message.sender, message.data) : undefined,
          replayed: this.replayed.has(message)
        }
      })
      message = this.log.get(inbound.key, inbound.next)
    }

    if (inbound.next > from) {
      this.store?.saveDelivered(inbound.key, inbound.next - 1)
    }
  }

  /** what our heartbeats on `session` tell about our messages */
  heartbeatFields (session: Session): Pick<Heartbeat, 'epoch' | 'sent' | 'held' | 'written'> {
    return { epoch: BigInt(this.epoch), sent: BigInt(this.sent), held: this.log.size, written: BigInt(session.written) }
  }

  /**
   * A member's heartbeat. Its stream is ordered: if it wrote one of its own
   * messages to it that we still lack, that message was lost on the way (its
   * queue to us was full), so we ask for it, at most once an interval;
   * messages still queued are not written yet and are not asked for. If it
   * holds messages and we have not asked it since its stream began, we ask.
   * A heartbeat only updates what we follow; it never makes new entries.
   */
  heard (member: Member, heartbeat: Heartbeat, now: number = Date.now()): void {
    const inbound = this.inbound.get(member.peerId, Number(heartbeat.epoch))
    const written = Number(heartbeat.written)

    if (inbound != null) {
      inbound.sent = Math.max(inbound.sent, Number(heartbeat.sent))
    }

    // a message held but not yet delivered (its write under way) is not lost
    const lost = inbound != null && written > 0 && this.heldThrough(inbound) < written

    if (lost && now - (member.lostAskedAt ?? 0) >= this.room.ctx.init.heartbeatInterval) {
      member.lostAskedAt = now
      this.room.log('%p wrote messages up to %d that we lack: asking for them', member.peerId, written)
      this.requestReplay(member)
    } else if (heartbeat.held > 0 && !member.askedSinceAdopt) {
      this.requestReplay(member)
    }
  }

  /**
   * The heartbeat tick: a hole before held messages that no replay has
   * filled is asked for again, of another member than before. While a
   * known member has no stream with us, its messages reach us only if a
   * member it picked to pass them on reaches us: every `PULL_INTERVALS`
   * heartbeat intervals one member with a stream is asked (in turn) for
   * what we lack.
   */
  tick (now: number = Date.now()): void {
    const interval = this.room.ctx.init.heartbeatInterval

    for (const inbound of this.inbound.values()) {
      if (this.hasHole(inbound) && now - (inbound.askedAt ?? 0) >= 2 * interval) {
        this.askForHole(inbound)
      }
    }

    if (now - this.lastPullAt < PULL_INTERVALS * interval) {
      return
    }

    const members = this.room.all()
    const open = members.filter(member => member.session?.open === true)

    if (open.length > 0 && members.some(member => member.known && member.session?.open !== true)) {
      this.lastPullAt = now
      this.requestReplay(open[this.pullTurn++ % open.length])
    }
  }

  /** the last seq held in a row from `next` on */
  private heldThrough (inbound: Inbound): number {
    let seq = inbound.next

    while (this.log.has(inbound.key, seq)) {
      seq++
    }

    return seq - 1
  }

  /** whether messages after `next` are held but `next` is not */
  private hasHole (inbound: Inbound): boolean {
    return !this.log.has(inbound.key, inbound.next) && this.log.highest(inbound.key) > inbound.next
  }

  /**
   * Asks for the message missing before held ones: of the sender itself if
   * we have a stream with it, else of the member it came from, else of
   * another member, never one that answered without it.
   */
  private askForHole (inbound: Inbound, from?: Member): void {
    const open = this.room.all().filter(member => member.session?.open === true && !inbound.notHeldBy.has(member.peerId))
    const sender = open.find(member => member.peerId.equals(inbound.sender))
    const next = sender ?? (from != null && open.includes(from) ? from : open.find(member => member.replaying == null) ?? open[0])

    if (next != null) {
      inbound.askedAt = Date.now()
      this.requestReplay(next)
    }
  }

  /**
   * Asks `member` for what we lack. Replays run one at a time per room, in
   * the order asked, each wanting what is still missing when it starts, so a
   * newcomer asks one member first and the others only for the rest. A
   * replay that fails is reported (`replay:failed`) and another member is
   * asked; one that ended early (our budget with it) is asked again after a
   * heartbeat interval.
   */
  requestReplay (member: Member): void {
    member.askedSinceAdopt = true

    if (member.replaying != null) {
      member.replayAgain = true
      return
    }

    if (!this.replayQueue.includes(member)) {
      this.replayQueue.push(member)
    }

    this.nextReplay()
  }

  private nextReplay (): void {
    if (this.replayRunning || this.room.isClosed) {
      return
    }

    const member = this.replayQueue.shift()

    if (member == null) {
      return
    }

    const session = member.session

    if (session == null || !session.open || this.room.getMember(member.peerId) !== member) {
      this.nextReplay()
      return
    }

    this.replayRunning = true
    member.replaying = requestReplay(this, { peerId: member.peerId, connection: session.connection })
      .then(result => {
        this.room.log('replay from %p: %d batches%s', member.peerId, result.received, result.truncated ? ' (truncated: budget)' : '')

        if (result.truncated && !this.room.isClosed) {
          clearTimeout(member.replayTimer)
          member.replayTimer = setTimeout(() => { this.requestReplay(member) }, this.room.ctx.init.heartbeatInterval)
        }
      }, (err: Error) => {
        this.room.log('replay from %p failed - %e', member.peerId, err)

        if (err.name !== 'ReplayRefusedError') {
          // the responder's answer was refused (a refusal of ours is not)
          this.room.reportIfRejected(member.peerId, err)
        }

        if (!this.room.isClosed) {
          this.room.safeDispatchEvent('replay:failed', { detail: { peerId: member.peerId, error: err } })
          this.askAnother(member)
        }
      })
      .finally(() => {
        member.replaying = undefined
        this.replayRunning = false

        if (member.replayAgain && !this.room.isClosed) {
          member.replayAgain = false
          this.requestReplay(member)
        }

        this.nextReplay()
      })
  }

  /** after a failed replay: another member with a stream, not asked within an interval */
  private askAnother (failed: Member): void {
    const now = Date.now()
    const other = this.room.all().find(member => member !== failed && member.session?.open === true && member.replaying == null && !this.replayQueue.includes(member) && now - (member.replayAskedAt ?? 0) >= this.room.ctx.init.heartbeatInterval)

    if (other != null) {
      other.replayAskedAt = now
      this.requestReplay(other)
    }
  }

  /**
   * Checks that `peer` may ask us for a replay: a member we have a session with.
   *
   * @throws {NotOnRosterError | ReplayRefusedError}
   */
  checkAsker (peer: PeerId): void {
    this.room.checkRoster(peer)

    if (this.room.getMember(peer)?.session?.open !== true) {
      throw new ReplayRefusedError('only a member with a room session may ask for a replay')
    }
  }

  /** what the log holds, less `except`'s own messages (for a replay answer) */
  held (except: PeerId): HeldRange[] {
    return this.log.held(except)
  }

  /**
   * The logged batches a replay wants, oldest first, each checked before it
   * goes (see `check`); one whose signature does not verify is left out and
   * reported against its sender.
   */
  async batches (want: Want, signal?: AbortSignal): Promise<SignedRoomBatch[]> {
    const batches = this.log.batchesAfter(streamKey(want.sender, want.epoch), want.after)
      .filter(batch => batch.firstSeq <= want.upTo)
    const checked: SignedRoomBatch[] = []

    for (const batch of batches) {
      try {
        await this.vouch(batch, signal)
        checked.push(batch)
      } catch (err: any) {
        if (signal?.aborted === true) {
          throw err
        }

        this.room.reportIfRejected(batch.sender, err)
      }
    }

    return checked
  }

  /**
   * What to ask a responder for, given what it holds: for each sender (not
   * us) and epoch we still follow or would, the messages after the last we
   * hold in order, when it holds any of them.
   */
  wants (held: HeldRange[]): Want[] {
    const self = this.room.ctx.components.peerId
    const wants: Want[] = []

    for (const range of held) {
      if (range.sender.equals(self) || !this.room.allows(range.sender)) {
        continue
      }

      const inbound = this.inbound.get(range.sender, range.epoch)

      if (inbound == null && !this.inbound.wants(range.sender, range.epoch, range.highest)) {
        continue
      }

      const after = inbound == null ? 0 : inbound.next - 1

      if (range.highest > after) {
        wants.push({ sender: range.sender, epoch: range.epoch, after, upTo: range.highest })
      }
    }

    return wants
  }

  /**
   * After a replay from `peerId` that held `held`: what it could not give is
   * gone once every member we have a stream with has answered without it,
   * and the sender is one of them or has left the room. Each such range is
   * reported as a `gap` and skipped. While the sender is in the room but out
   * of reach, it may hold what the others lack, so nothing is skipped; and
   * a sender that no longer holds its own old messages (it re-joined, or
   * evicted them) does not make a gap while another member holds them.
   */
  settle (peerId: PeerId, held: HeldRange[], truncated = false): void {
    const open = this.room.all().filter(m => m.session?.open === true)

    for (const inbound of this.inbound.values()) {
      const end = this.missingEnd(inbound)

      if (end < inbound.next || this.log.has(inbound.key, inbound.next)) {
        continue
      }

      const range = held.find(h => h.epoch === inbound.epoch && h.sender.equals(inbound.sender))

      // a replay that was not cut short sent all it held of what we wanted:
      // if we still lack `next`, the responder does not hold it (its range
      // has holes); one cut short may still hold it
      if (truncated && range != null && range.lowest <= inbound.next && inbound.next <= range.highest) {
        continue
      }

      inbound.notHeldBy.add(peerId)
      const senderSaid = inbound.notHeldBy.has(inbound.sender)
      const senderLeft = this.room.getMember(inbound.sender) == null

      if ((senderSaid || senderLeft) && open.every(m => inbound.notHeldBy.has(m.peerId))) {
        const to = range != null && range.lowest > inbound.next ? Math.min(end, range.lowest - 1) : end
        this.gap(inbound, to)
      }
    }
  }

  /** the last seq we know of that we do not hold in order */
  private missingEnd (inbound: Inbound): number {
    const pending = this.log.after(inbound.key, inbound.next)
    return pending.length > 0 ? pending[0].seq - 1 : inbound.sent
  }

  /** a sender's epoch is no longer followed (a bound): what it lacked is reported */
  private dropped (inbound: Inbound): void {
    const end = Math.max(inbound.sent, this.log.highest(inbound.key))
    this.room.log('no longer following epoch %d of %p', inbound.epoch, inbound.sender)

    this.reportGap(inbound, inbound.next, end)
  }

  /** `gap` events for `from`..`to`, less what the sender said it skipped after a crash */
  private reportGap (inbound: Inbound, from: number, to: number): void {
    if (this.room.isClosed) {
      return
    }

    for (const lost of outside(from, to, inbound.skipped)) {
      this.room.safeDispatchEvent('gap', { detail: { sender: inbound.sender, epoch: inbound.epoch, ...lost } })
    }
  }

  /**
   * Messages `next` to `to` are held by no member we reach: reported as a
   * `gap` and skipped, except seqs the sender said it skipped after a crash
   * (they may never have been sent).
   */
  private gap (inbound: Inbound, to: number): void {
    if (to < inbound.next) {
      return
    }

    const from = inbound.next
    this.room.log('messages %d-%d of %p are held by no member we reach', from, to, inbound.sender)
    inbound.next = to + 1
    inbound.notHeldBy.clear()
    this.reportGap(inbound, from, to)
    this.deliver(inbound)
  }

  private storeFailed (err: Error): void {
    if (!this.room.isClosed) {
      this.room.safeDispatchEvent('store:failed', { detail: err })
    }
  }

  /** queues a message to a member (see `Outbox`) */
  private enqueue (member: Member, entry: OutboxEntry): void {
    if (!member.outbox.push(member, entry, this.room.ctx.init.maxQueuedMessages, this.room.log)) {
      this.room.log.trace('the queue to %p is full: it asks for the rest when it sees what it lacks', member.peerId)
    }
  }
}

/** the seq of a batch's last message (its seqs follow one by one from `firstSeq`) */
function lastSeq (batch: SignedRoomBatch): number {
  return batch.firstSeq + batch.messages.length - 1
}

/**
 * Where something for every member goes: to each member we have an open
 * stream with, and, for each known member we have none with, in the
 * `forwardTo` of at most `FORWARDERS_PER_MEMBER` of those (see
 * `forwardersOf`), so it gets a copy from those only.
 */
export function broadcastRoutes (members: Member[]): { open: Member[], forwardTo: Map<Member, Array<Uint8Array<ArrayBuffer>>> } {
  const open: Member[] = []
  const cutOff: Member[] = []

  for (const member of members) {
    if (member.session?.open === true) {
      open.push(member)
    } else if (member.known) {
      cutOff.push(member)
    }
  }

  const forwardTo = new Map<Member, Array<Uint8Array<ArrayBuffer>>>()

  for (const member of cutOff) {
    const id = member.peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>

    for (const forwarder of forwardersOf(id, open)) {
      forwardTo.set(forwarder, [...(forwardTo.get(forwarder) ?? []), id])
    }
  }

  return { open, forwardTo }
}

/**
 * The members (of `open`) that pass our messages on to the member with peer
 * id bytes `id`: the same ones for every message while `open` stays the same.
 */
export function forwardersOf (id: Uint8Array, open: Member[]): Member[] {
  if (open.length <= FORWARDERS_PER_MEMBER) {
    return open
  }

  let hash = 0

  for (let i = Math.max(0, id.byteLength - 4); i < id.byteLength; i++) {
    hash = (hash * 256 + id[i]) >>> 0
  }

  const first = hash % open.length
  return Array.from({ length: FORWARDERS_PER_MEMBER }, (_, k) => open[(first + k) % open.length])
}

/** a message's data as its sender sent it (a private room's decrypted), or the encrypted bytes when they do not decrypt */
function plaintext (data: Uint8Array, cipher?: RoomCipher): Uint8Array {
  try {
    return cipher?.open(data, 'message') ?? data
  } catch {
    return data
  }
}
