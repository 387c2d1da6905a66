import { setMaxListeners } from '@libp2p/interface'
import { PeerMap, PeerSet } from '@libp2p/peer-collections'
import { TypedEventEmitter } from 'main-event'
import { SequenceTracker } from '../envelope/sequence.ts'
import { LEAVE_FLUSH_TIMEOUT, MAX_PENDING_MEMBERS } from './constants.ts'
import { RoomDiscovery } from './discovery.ts'
import { NotOnRosterError, RoomClosedError } from './errors.ts'
import { Heartbeats } from './heartbeats.ts'
import { LinkDialer } from './link-dialer.ts'
import { Links } from './links.ts'
import { Member } from './member.ts'
import { Messaging } from './messages/messaging.ts'
import { RoomNotes } from './notes/notes.ts'
import { OwnRecord } from './own-record.ts'
import { RoomPayloads } from './payloads/payloads.ts'
import { Quorum } from './quorum.ts'
import type { ResolvedMeshInit } from './constants.ts'
import type { DialTimes } from './dial-times.ts'
import type { DirectSendOptions, MeshComponents, MemberInfo, PresenceInfo, RejectedMessage, RequestHandler, Room, RoomEvents, SendOptions, SentDirectMessage, SentMessage } from './index.ts'
import type { Numbering } from './messages/messaging.ts'
import type { RelayGate } from './relay-gate.ts'
import type { RoomSecret } from './room-secret.ts'
import type { Session } from './session.ts'
import type { RoomCipher } from '../envelope/cipher.ts'
import type { Verifier } from '../envelope/keys.ts'
import type { MemberRecord } from '../envelope/record.ts'
import type { AbortOptions, Connection, Logger, PeerId, PeerInfo } from '@libp2p/interface'
import type { Queue } from '@libp2p/utils'
import type { CID } from 'multiformats/cid'

/**
 * What a room needs from the `mesh` service.
 */
export interface RoomContext {
  /** where this node's numbering stopped when it last left the room */
  numbering?: Numbering
  components: MeshComponents
  init: ResolvedMeshInit
  protocol: string
  /** the node's WebRTC dials, a few at a time */
  webRTCDials: Queue<Connection | undefined>
  /** how long the node's latest WebRTC dials took */
  webRTCDialTimes: DialTimes
  /** which relays members' addresses may be dialed through (one per node) */
  relayGate: RelayGate
  /** the replay protocol id */
  replayProtocol: string
  /** the payload protocol id */
  payloadProtocol: string
  /** checks message batch signatures, keys imported once per peer */
  verifier: Verifier
  reject(rejected: RejectedMessage): void
  closed(room: RoomImpl): void
}

export interface RoomInit {
  name: string
  cid: CID
  /** what its message batches are signed for (see `roomId`) */
  id: Uint8Array
  /** a private room's keys (its `cid` and `id` come from them) */
  secret?: RoomSecret
  roster?: PeerId[]
  threshold?: number
}

/**
 * Errors that refuse a message (rather than report a broken stream).
 */
export const REJECTIONS = new Set([
  'InvalidSignatureError', 'WrongSignerError', 'WrongRoomError', 'StaleRecordError',
  'ReplayedRecordError', 'MessageTooLargeError', 'InvalidMessageError', 'NotOnRosterError',
  'RoomNotJoinedError', 'ReplayRefusedError', 'EquivocationError', 'RecordQuotaError',
  'NotAMemberError', 'StaleNoteError', 'RateLimitError', 'UnknownMemberError', 'CorruptPayloadError', 'WrongSecretError'
])

/**
 * A joined room: its members, their sessions and health, the member's own
 * signed record, discovery and the heartbeat tick.
 */
export class RoomImpl extends TypedEventEmitter<RoomEvents> implements Room {
  readonly name: string
  readonly cid: CID
  readonly id: Uint8Array
  /** how records and replay requests name the room: its name, or `private/<cid>` (see `RoomSecret`) */
  readonly tag: string
  /** a private room's keys */
  readonly secret?: RoomSecret
  readonly roster?: PeerId[]
  readonly threshold?: number
  readonly log: Logger
  readonly ctx: RoomContext
  private readonly rosterSet?: PeerSet
  private readonly memberMap = new PeerMap<Member>()
  readonly seen = new SequenceTracker()
  readonly dialer: LinkDialer
  readonly links: Links
  readonly messaging: Messaging
  readonly notes: RoomNotes
  readonly payloads: RoomPayloads
  private readonly quorum: Quorum
  private readonly shutdown = new AbortController()
  private readonly own: OwnRecord
  readonly heartbeats: Heartbeats
  private readonly discovery: RoomDiscovery
  private closed = false

  constructor (ctx: RoomContext, init: RoomInit) {
    super()
    this.ctx = ctx
    this.name = init.name
    this.cid = init.cid
    this.id = init.id
    this.secret = init.secret
    this.tag = init.secret?.tag ?? init.name
    this.roster = init.roster
    this.threshold = init.threshold
    this.rosterSet = init.roster == null ? undefined : new PeerSet(init.roster)
    this.log = ctx.components.logger.forComponent(`relaymesh:mesh:${init.name}`)
    this.dialer = new LinkDialer(this)
    this.links = new Links(this)
    setMaxListeners(Infinity, this.shutdown.signal)
    this.own = new OwnRecord(this)
    this.heartbeats = new Heartbeats(this, ctx.init.heartbeatInterval)
    this.discovery = new RoomDiscovery(this)
    this.payloads = new RoomPayloads(this)
    this.messaging = new Messaging(this)
    this.notes = new RoomNotes(this)
    this.quorum = new Quorum(this, this.threshold)
  }

  get isPrivate (): boolean {
    return this.secret != null
  }

  /** a private room's cipher for what messages and notes carry */
  get cipher (): RoomCipher | undefined {
    return this.secret?.cipher
  }

  async send (data: Uint8Array | Blob, options?: SendOptions & { ephemeral?: false }): Promise<SentMessage>
  async send (data: Uint8Array, options: SendOptions & { ephemeral: true }): Promise<void>
  async send (data: Uint8Array | Blob, options: SendOptions = {}): Promise<SentMessage | void> {
    this.checkOpen()

    if (options.ephemeral === true) {
      await this.notes.sendEphemeral(data as Uint8Array)
      return
    }

    const payload = isPayload(data, options, this.messaging.maxDataSize) ? await this.payloads.prepare(data, options) : undefined
    const { epoch, seq, timestamp } = await this.messaging.send(payload?.manifest ?? data as Uint8Array, { payload: payload != null })
    return { epoch, seq, timestamp, payloadId: payload?.id }
  }

  async setPresence (value: unknown): Promise<void> {
    this.checkOpen()
    await this.notes.presence.set(value)
  }

  get presence (): PresenceInfo[] {
    return this.notes.presence.values
  }

  async sendTo (peerId: PeerId, data: Uint8Array | Blob, options: DirectSendOptions = {}): Promise<SentDirectMessage> {
    if (isPayload(data, options, this.notes.maxDataSize)) {
      this.checkOpen()

      // before the payload is hashed and kept
      this.notes.direct.checkRecipient(peerId)

      const payload = await this.payloads.prepare(data, { ...options, recipient: peerId })
      await this.notes.direct.send(peerId, payload.manifest, { ...options, payload: true })
      return { payloadId: payload.id }
    }

    await this.notes.direct.send(peerId, data as Uint8Array, options)
    return {}
  }

  async request (peerId: PeerId, data: Uint8Array, options?: DirectSendOptions): Promise<Uint8Array> {
    return this.notes.direct.request(peerId, data, options)
  }

  handleRequest (handler: RequestHandler): void {
    this.notes.direct.handle(handler)
  }

  unhandleRequest (): void {
    this.notes.direct.unhandle()
  }

  private checkOpen (): void {
    if (this.closed) {
      throw new RoomClosedError(`room "${this.name}" was left`)
    }
  }

  get hasQuorum (): boolean {
    return this.quorum.hasQuorum
  }

  async waitForQuorum (options?: AbortOptions): Promise<void> {
    await this.quorum.wait(options)
  }

  get signal (): AbortSignal {
    return this.shutdown.signal
  }

  get isClosed (): boolean {
    return this.closed
  }

  get members (): MemberInfo[] {
    const now = Date.now()
    return [...this.memberMap.values()].filter(member => member.known).map(member => member.info(now))
  }

  member (peerId: PeerId): MemberInfo | undefined {
    const member = this.memberMap.get(peerId)
    return member?.known === true ? member.info() : undefined
  }

  getMember (peerId: PeerId): Member | undefined {
    return this.memberMap.get(peerId)
  }

  get ownRecord (): MemberRecord {
    return this.own.current
  }

  /** the room's members, known or only found in the DHT */
  all (): Member[] {
    return [...this.memberMap.values()]
  }

  async start (): Promise<void> {
    await this.messaging.start()
    await this.own.start()
    this.heartbeats.start()
    this.discovery.start()
  }

  async leave (options: AbortOptions = {}): Promise<void> {
    if (this.closed) {
      return
    }

    try {
      const leaving = await this.own.leaving()
      const signal = options.signal ?? AbortSignal.timeout(LEAVE_FLUSH_TIMEOUT)
      await Promise.allSettled(this.all()
        .filter(member => member.session?.open === true)
        .map(async member => member.session?.send({ record: leaving.envelope }, { signal })))
    } finally {
      await this.close()
    }
  }

  /** ends every timer, stream and attempt, without a leave */
  async close (): Promise<void> {
    if (this.closed) {
      return
    }

    this.closed = true
    this.shutdown.abort(new RoomClosedError(`left room "${this.name}"`))
    this.own.stop()
    this.heartbeats.stop()
    this.discovery.stop()
    this.notes.stop()
    this.payloads.stop()

    const closing = this.all().map(async member => {
      const session = member.close()
      await session?.close({ signal: AbortSignal.timeout(LEAVE_FLUSH_TIMEOUT) })
    })
    this.memberMap.clear()
    await Promise.allSettled([...closing, this.messaging.stop()])
    this.ctx.closed(this)
  }

  /**
   * Checks a record and takes it in: a new member is added and connected, a
   * newer record replaces the old one and is forwarded to the other members,
   * a leave removes the member. Returns whether the record was news.
   *
   * @throws {NotOnRosterError | ReplayedRecordError} when the record is refused
   */
  acceptRecord (record: MemberRecord, from?: Session): boolean {
    if (record.peerId.equals(this.ctx.components.peerId)) {
      return false
    }

    this.checkRoster(record.peerId)

    if (!this.seen.check(record)) {
      return false
    }

    let member = this.memberMap.get(record.peerId)

    if (member == null && record.leaving) {
      // the leave of a peer this room does not know: nothing to remove, and
      // nothing to keep or pass on (2,000 of them grew every member's
      // seen-set by 2,000 entries)
      this.log.trace('ignoring the leave of %p, not a member', record.peerId)
      return false
    }

    if (member == null) {
      // on its own stream the signer is about to join; heard of from
      // someone else it waits among the pending
      member = this.admit(record.peerId, from?.connection.remotePeer.equals(record.peerId) === true)

      if (member == null) {
        return false
      }
    }

    this.seen.accept(record)

    if (member.joined) {
      // only records of members we have had a stream with are passed on: a
      // peer cannot push records of keys nobody has met through us
      this.forward(record, from)
    }

    member.record = record

    if (record.leaving) {
      this.log('%p left', record.peerId)
      this.removeMember(member)

      if (member.joined) {
        this.safeDispatchEvent('member:left', { detail: { ...member.info(), state: 'unreachable', route: 'none', reason: 'left' } })
      }
    } else if (from?.connection.remotePeer.equals(record.peerId) !== true) {
      // a silent member that signs a new record has restarted: its old
      // stream will not answer again
      this.links.abandon(member)
      this.links.connect(member, 'gossip')
    }

    return true
  }

  /** whether `peerId` may take part: anyone in an open room */
  allows (peerId: PeerId): boolean {
    return this.rosterSet == null || this.rosterSet.has(peerId)
  }

  checkRoster (peerId: PeerId): void {
    if (!this.allows(peerId)) {
      throw new NotOnRosterError(`${peerId} is not on the roster of room "${this.name}"`)
    }
  }

  /** reports a refused message; returns whether `err` was one */
  reportIfRejected (remotePeer: PeerId, err: Error): boolean {
    if (!REJECTIONS.has(err.name)) {
      return false
    }

    this.ctx.reject({ remotePeer, room: this.name, error: err })
    return true
  }

  /** a member went silent (see `Links.unreachable`) */
  unreachable (member: Member): void {
    this.links.unreachable(member)
  }

  /**
   * Drops `member` when no stream with it is open and nothing it signed is
   * younger than `maxRecordAge`: it crashed or closed its tab without a
   * leave, and nobody has passed on a fresh record of it since. It is no
   * longer dialed or counted, and `member:left` says `expired`.
   */
  expire (member: Member, now: number): boolean {
    if (member.session != null) {
      return false
    }

    const signedAt = member.record?.timestamp ?? member.addedAt

    if (now - signedAt <= this.ctx.init.maxRecordAge) {
      return false
    }

    this.log('%p expired: no stream, and its newest record is %d ms old', member.peerId, now - signedAt)
    this.removeMember(member)

    if (member.joined) {
      // a pending member never had `member:joined`
      this.safeDispatchEvent('member:left', { detail: { ...member.info(now), state: 'unreachable', route: 'none', reason: 'expired' } })
    }

    return true
  }

  /** forgets the records of non-members too old to be taken again */
  pruneRecords (now: number): void {
    this.seen.prune(now - this.ctx.init.maxRecordAge, peerId => this.memberMap.has(peerId))
  }

  updated (member: Member): void {
    this.quorum.update()
    const info = member.info()
    member.reportedScore = info.score
    member.reportedRoute = info.route
    this.safeDispatchEvent('member:updated', { detail: info })
  }

  /**
   * Adds `peerId` unless the room is full: `maxMembers` members it has had
   * a stream with, or, for a peer only heard of (`ownStream` false),
   * MAX_PENDING_MEMBERS pending ones, of which the oldest without a stream
   * or a dial under way makes room.
   */
  private admit (peerId: PeerId, ownStream: boolean): Member | undefined {
    if (this.isFull()) {
      this.log('room is full (%d members): ignoring %p', this.ctx.init.maxMembers, peerId)
      return undefined
    }

    const pending = [...this.memberMap.values()].filter(member => !member.joined)

    if (!ownStream && pending.length >= MAX_PENDING_MEMBERS) {
      // not one whose first contact is under way (its grace, its first dial,
      // or a stream it opened to us mid-handshake)
      const oldest = pending.find(member => member.link.idle)

      if (oldest == null) {
        this.log('%d members pending, all being contacted: ignoring %p', pending.length, peerId)
        return undefined
      }

      this.log.trace('%d members pending: forgetting %p for %p', pending.length, oldest.peerId, peerId)
      this.removeMember(oldest)
    }

    return this.addMember(peerId)
  }

  /** whether `maxMembers` members have had a stream with us */
  isFull (): boolean {
    let joined = 0

    for (const member of this.memberMap.values()) {
      if (member.joined && ++joined >= this.ctx.init.maxMembers) {
        return true
      }
    }

    return false
  }

  /** forgets a pending member there is no room for */
  drop (member: Member): void {
    if (!member.joined) {
      this.removeMember(member)
    }
  }

  /** a member's first stream: its record may now be passed on */
  firstJoined (member: Member): void {
    if (member.record != null) {
      this.forward(member.record, member.session)
    }
  }

  private addMember (peerId: PeerId): Member {
    const member = new Member(peerId, this.ctx.init.heartbeatInterval, this.ctx.init.missedHeartbeats, this.ctx.init.unreachableTimeout)
    this.memberMap.set(peerId, member)
    return member
  }

  private removeMember (member: Member): void {
    this.memberMap.delete(member.peerId)
    this.messaging.guard.forget(member.peerId)
    this.notes.forget(member.peerId)
    this.payloads.forget(member.peerId)

    if (!member.joined && member.record?.leaving !== true) {
      // only heard of: its record goes too, so the records kept stay within
      // the members, the pending and the leaves (until maxRecordAge: a leave
      // forgotten would let an older record of the peer in again)
      this.seen.forget(member.peerId)
    }

    void member.close()?.close()
    this.quorum.update()
  }

  /**
   * Sends the records we know (fresh enough to outlive the trip) to a member,
   * and our own again: the handshake may have carried one we re-signed
   * (new addresses) while the stream was not yet the member's.
   */
  gossip (member: Member, session: Session): void {
    const oldest = Date.now() - this.ctx.init.maxRecordAge + this.ctx.init.recordRefreshInterval
    session.post({ record: this.ownRecord.envelope })

    for (const record of this.seen.values()) {
      if (!record.leaving && record.timestamp > oldest && !record.peerId.equals(member.peerId) && this.memberMap.get(record.peerId)?.joined === true) {
        session.post({ record: record.envelope })
      }
    }
  }

  /** passes news on to every other member we have a stream with */
  private forward (record: MemberRecord, from?: Session): void {
    for (const member of this.memberMap.values()) {
      const session = member.session

      if (session != null && session !== from && !member.peerId.equals(from?.connection.remotePeer) && !member.peerId.equals(record.peerId) && session.open) {
        session.post({ record: record.envelope })
      }
    }
  }

  /** a provider of the room's CID: a member, perhaps not yet known */
  found (provider: PeerInfo): void {
    if (provider.id.equals(this.ctx.components.peerId) || !this.allows(provider.id)) {
      return
    }

    const member = this.memberMap.get(provider.id) ?? this.admit(provider.id, false)

    if (member == null) {
      return
    }

    if (provider.multiaddrs.length > 0) {
      member.providerAddrs = provider.multiaddrs
    }

    this.links.connect(member, 'dht')
  }

  /** whether no member has a stream with us */
  get alone (): boolean {
    return this.all().every(member => member.session == null)
  }

  /** sends `record` (our new one) to every member we have a stream with */
  broadcast (record: MemberRecord): void {
    for (const member of this.memberMap.values()) {
      if (member.session?.open === true) {
        member.session.post({ record: record.envelope })
      }
    }
  }

  /** our addresses changed: the DHT must learn them too */
  addressesChanged (): void {
    this.discovery.provide()
  }
}

/** whether `send` or `sendTo` sends `data` as a large payload */
function isPayload (data: Uint8Array | Blob, options: Pick<SendOptions, 'name' | 'type'>, maxDataSize: number): boolean {
  return (typeof Blob !== 'undefined' && data instanceof Blob) || options.name != null || options.type != null || (data instanceof Uint8Array && data.byteLength > maxDataSize)
}
