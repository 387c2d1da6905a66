import { InvalidMessageError, TimeoutError, setMaxListeners } from '@libp2p/interface'
import { PeerMap, PeerSet } from '@libp2p/peer-collections'
import { TypedEventEmitter } from 'main-event'
import { initialSeq, openMemberRecord, sealMemberRecord } from '../envelope/record.ts'
import { SequenceTracker } from '../envelope/sequence.ts'
import { backoff } from '../health/backoff.ts'
import { LEAVE_FLUSH_TIMEOUT } from './constants.ts'
import { RoomDiscovery } from './discovery.ts'
import { NotOnRosterError, RoomClosedError } from './errors.ts'
import { Heartbeats } from './heartbeats.ts'
import { Member } from './member.ts'
import { Upgrader } from './upgrader.ts'
import type { ResolvedMeshInit } from './constants.ts'
import type { MeshComponents, MemberInfo, RejectedMessage, Room, RoomEvents } from './index.ts'
import type { MeshMessage } from './pb/mesh.ts'
import type { Session } from './session.ts'
import type { MemberRecord } from '../envelope/record.ts'
import type { AbortOptions, Logger, PeerId, PeerInfo } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * What a room needs from the `mesh` service.
 */
export interface RoomContext {
  components: MeshComponents
  init: ResolvedMeshInit
  protocol: string
  reject(rejected: RejectedMessage): void
  closed(room: RoomImpl): void
}

export interface RoomInit {
  name: string
  cid: CID
  roster?: PeerId[]
  threshold?: number
}

/**
 * Errors that refuse a message but do not mean its sender misbehaved: an
 * honest member may forward a record that has since been superseded.
 */
const TOLERATED = new Set(['ReplayedRecordError', 'StaleRecordError'])

/**
 * Errors that refuse a message (rather than report a broken stream).
 */
export const REJECTIONS = new Set([
  'InvalidSignatureError', 'WrongSignerError', 'WrongRoomError', 'StaleRecordError',
  'ReplayedRecordError', 'MessageTooLargeError', 'InvalidMessageError', 'NotOnRosterError',
  'RoomNotJoinedError'
])

/**
 * A joined room: its members, their sessions and health, the member's own
 * signed record, discovery and the heartbeat tick.
 */
export class RoomImpl extends TypedEventEmitter<RoomEvents> implements Room {
  readonly name: string
  readonly cid: CID
  readonly roster?: PeerId[]
  readonly threshold?: number
  readonly log: Logger
  readonly ctx: RoomContext
  private readonly rosterSet?: PeerSet
  private readonly memberMap = new PeerMap<Member>()
  private readonly seen = new SequenceTracker()
  private readonly upgrader: Upgrader
  private readonly shutdown = new AbortController()
  private own!: MemberRecord
  private seq = 0n
  private readonly heartbeats: Heartbeats
  private refreshTimer?: ReturnType<typeof setTimeout>
  private readonly discovery: RoomDiscovery
  private closed = false

  constructor (ctx: RoomContext, init: RoomInit) {
    super()
    this.ctx = ctx
    this.name = init.name
    this.cid = init.cid
    this.roster = init.roster
    this.threshold = init.threshold
    this.rosterSet = init.roster == null ? undefined : new PeerSet(init.roster)
    this.log = ctx.components.logger.forComponent(`relaymesh:mesh:${init.name}`)
    this.upgrader = new Upgrader(this)
    setMaxListeners(Infinity, this.shutdown.signal)
    this.onSelfUpdate = this.onSelfUpdate.bind(this)
    this.heartbeats = new Heartbeats(this, ctx.init.heartbeatInterval)
    this.discovery = new RoomDiscovery(this)
  }

  get signal (): AbortSignal {
    return this.shutdown.signal
  }

  get isClosed (): boolean {
    return this.closed
  }

  get ownRecord (): MemberRecord {
    return this.own
  }

  get members (): MemberInfo[] {
    const now = Date.now()
    return [...this.memberMap.values()].filter(member => member.known).map(member => member.info(now))
  }

  member (peerId: PeerId): MemberInfo | undefined {
    const member = this.memberMap.get(peerId)
    return member?.known === true ? member.info() : undefined
  }

  /** the room's members, known or only found in the DHT */
  all (): Member[] {
    return [...this.memberMap.values()]
  }

  async start (): Promise<void> {
    this.seq = initialSeq()
    this.own = await this.seal(false)
    this.ctx.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
    this.heartbeats.start()
    this.scheduleRefresh()
    this.discovery.start()
  }

  async leave (options: AbortOptions = {}): Promise<void> {
    if (this.closed) {
      return
    }

    try {
      this.seq += 1n
      const leaving = await this.seal(true)
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
    this.ctx.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
    this.heartbeats.stop()
    clearTimeout(this.refreshTimer)
    this.discovery.stop()

    const closing = this.all().map(async member => {
      member.clearTimers()
      const session = member.session
      member.session = undefined
      await session?.close({ signal: AbortSignal.timeout(LEAVE_FLUSH_TIMEOUT) })
    })
    this.memberMap.clear()
    await Promise.allSettled(closing)
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

    if (member == null && !record.leaving) {
      if (this.memberMap.size >= this.ctx.init.maxMembers) {
        this.log('room is full (%d members): ignoring %p', this.memberMap.size, record.peerId)
        return false
      }

      member = this.addMember(record.peerId)
    }

    this.seen.accept(record)
    this.forward(record, from)

    if (member == null) {
      return true
    }

    member.record = record

    if (record.leaving) {
      this.log('%p left', record.peerId)
      this.removeMember(member)
      this.safeDispatchEvent('member:left', { detail: { ...member.info(), state: 'unreachable', route: 'none' } })
    } else if (from?.connection.remotePeer.equals(record.peerId) !== true) {
      this.connect(member)
    }

    return true
  }

  checkRoster (peerId: PeerId): void {
    if (this.rosterSet != null && !this.rosterSet.has(peerId)) {
      throw new NotOnRosterError(`${peerId} is not on the roster of room "${this.name}"`)
    }
  }

  /**
   * Takes a stream a member opened to us, whose first message (its record,
   * signed by it) has been checked by the service.
   */
  async acceptInbound (session: Session, record: MemberRecord): Promise<void> {
    if (this.closed) {
      throw new RoomClosedError(`room "${this.name}" was left`)
    }

    if (record.leaving) {
      throw new InvalidMessageError('a room stream must start with a record that is not a leave')
    }

    this.acceptRecord(record, session)
    const member = this.memberMap.get(record.peerId)

    if (member == null) {
      throw new RoomClosedError('room is full')
    }

    await session.send({ record: this.own.envelope }, { signal: AbortSignal.timeout(this.ctx.init.dialTimeout) })
    this.adopt(member, session)
  }

  /**
   * Opens a room stream with `member` on `connection` and exchanges records.
   */
  async handshake (member: Member, session: Session, signal: AbortSignal): Promise<Session> {
    try {
      await session.send({ record: this.own.envelope }, { signal })
      const reply = await session.read({ signal })

      if (reply.record == null) {
        throw new InvalidMessageError('a room stream must start with the member\'s record')
      }

      const record = await openMemberRecord(reply.record, {
        room: this.name,
        signer: session.connection.remotePeer,
        maxAge: this.ctx.init.maxRecordAge
      })
      this.acceptRecord(record, session)

      return session
    } catch (err: any) {
      session.abort(err)
      this.reportIfRejected(member.peerId, err)
      throw err
    }
  }

  /**
   * Makes `session` the member's stream unless the current one ranks higher:
   * direct beats relayed, then the stream opened by the member with the lower
   * peer id (both sides rank alike, so both keep the same stream).
   */
  adopt (member: Member, session: Session): void {
    const current = member.session

    if (this.closed || this.memberMap.get(member.peerId) !== member) {
      void session.close()
      return
    }

    if (current != null && current !== session) {
      if (current.open && this.rank(member, current) > this.rank(member, session)) {
        this.log.trace('keeping the %s stream with %p', current.direct ? 'direct' : 'relayed', member.peerId)
        void session.close()
        return
      }

      void current.close()
    }

    const before = member.state
    const route = member.route
    member.session = session
    member.state = session.direct ? 'direct' : 'relayed'
    member.failures = 0
    clearTimeout(member.retryTimer)
    member.liveness.restart()
    void this.run(member, session)
    this.gossip(member, session)

    if (!member.joined) {
      member.joined = true
      this.log('%p joined (%s)', member.peerId, member.state)
      this.safeDispatchEvent('member:joined', { detail: member.info() })
    } else if (before === 'unreachable') {
      this.log('%p rejoined (%s)', member.peerId, member.state)
      this.safeDispatchEvent('member:rejoined', { detail: member.info() })
    }

    if (before !== member.state || route !== member.route) {
      this.updated(member)
    }

    this.upgrader.adopted(member, session)
  }

  /**
   * Connects to `member` unless a stream or an attempt exists; a failure is
   * retried with backoff.
   */
  connect (member: Member): void {
    if (this.closed || member.session != null || member.connecting != null) {
      return
    }

    clearTimeout(member.retryTimer)
    member.connecting = this.upgrader.openSession(member)
      .catch((err: Error) => {
        this.log('connecting to %p failed - %e', member.peerId, err)

        if (!member.known && member.failures >= 5) {
          this.removeMember(member)
        } else {
          this.scheduleReconnect(member)
        }
      })
      .finally(() => {
        member.connecting = undefined
      })
  }

  private scheduleReconnect (member: Member): void {
    if (this.closed || member.session != null || this.memberMap.get(member.peerId) !== member) {
      return
    }

    member.failures++
    clearTimeout(member.retryTimer)
    const delay = backoff(member.failures, this.ctx.init.reconnectInitial, this.ctx.init.reconnectMax)
    member.retryTimer = setTimeout(() => {
      this.connect(member)
    }, delay)
  }

  private rank (member: Member, session: Session): number {
    return (session.direct ? 2 : 0) + (session.initiator === this.upgrader.isUpgrader(member) ? 1 : 0)
  }

  private async run (member: Member, session: Session): Promise<void> {
    try {
      while (true) {
        const message = await session.read()
        member.liveness.heard()
        await this.onMessage(member, session, message)
      }
    } catch (err: any) {
      if (this.reportIfRejected(member.peerId, err)) {
        session.abort(err)
      } else {
        this.log.trace('stream with %p ended - %e', member.peerId, err)
      }
    } finally {
      if (member.session === session) {
        member.session = undefined
        this.updated(member)

        if (member.state !== 'unreachable') {
          this.connect(member)
        }
      }
    }
  }

  private async onMessage (member: Member, session: Session, message: MeshMessage): Promise<void> {
    if (message.heartbeat != null) {
      if (message.heartbeat.reply) {
        member.liveness.replied(message.heartbeat.seq)
      } else {
        session.post({ heartbeat: { seq: message.heartbeat.seq, reply: true } })
      }
    }

    if (message.record != null) {
      try {
        const record = await openMemberRecord(message.record, { room: this.name, maxAge: this.ctx.init.maxRecordAge })
        this.acceptRecord(record, session)
      } catch (err: any) {
        if (TOLERATED.has(err.name)) {
          // an honest member may forward a record that has been superseded
          this.reportIfRejected(member.peerId, err)
          return
        }

        throw err
      }
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

  unreachable (member: Member): void {
    this.log('%p unreachable: not heard from for %d ms', member.peerId, Date.now() - (member.liveness.lastHeard ?? 0))
    member.state = 'unreachable'
    const session = member.session
    member.session = undefined
    session?.abort(new TimeoutError('no heartbeat'))
    this.safeDispatchEvent('member:unreachable', { detail: member.info() })
    this.updated(member)

    // the connections did not deliver: a WebRTC connection to a dead peer stays open for ~30 s
    this.ctx.components.connectionManager.closeConnections(member.peerId).catch((err: Error) => {
      this.log('closing connections to %p failed - %e', member.peerId, err)
    })
    this.scheduleReconnect(member)
  }

  updated (member: Member): void {
    const info = member.info()
    member.reportedScore = info.score
    this.safeDispatchEvent('member:updated', { detail: info })
  }

  private addMember (peerId: PeerId): Member {
    const member = new Member(peerId, this.ctx.init.heartbeatInterval, this.ctx.init.missedHeartbeats)
    this.memberMap.set(peerId, member)
    return member
  }

  private removeMember (member: Member): void {
    member.clearTimers()
    this.memberMap.delete(member.peerId)
    const session = member.session
    member.session = undefined
    void session?.close()
  }

  /** sends the records we know (fresh enough to outlive the trip) to a member */
  private gossip (member: Member, session: Session): void {
    const oldest = Date.now() - this.ctx.init.maxRecordAge + this.ctx.init.recordRefreshInterval

    for (const record of this.seen.values()) {
      if (!record.leaving && record.timestamp > oldest && !record.peerId.equals(member.peerId)) {
        session.post({ record: record.envelope })
      }
    }
  }

  /** passes news on to every other member we have a stream with */
  private forward (record: MemberRecord, from?: Session): void {
    for (const member of this.memberMap.values()) {
      const session = member.session

      if (session != null && session !== from && !member.peerId.equals(record.peerId) && session.open) {
        session.post({ record: record.envelope })
      }
    }
  }

  private async seal (leaving: boolean): Promise<MemberRecord> {
    const multiaddrs = this.ctx.components.addressManager.getAddresses()
    return sealMemberRecord({ room: this.name, seq: this.seq, multiaddrs, leaving }, this.ctx.components.privateKey)
  }

  private async refresh (): Promise<void> {
    if (this.closed) {
      return
    }

    this.seq = this.seq + 1n
    this.own = await this.seal(false)

    for (const member of this.memberMap.values()) {
      if (member.session?.open === true) {
        member.session.post({ record: this.own.envelope })
      }
    }

    this.scheduleRefresh()
  }

  private scheduleRefresh (): void {
    clearTimeout(this.refreshTimer)

    if (!this.closed) {
      this.refreshTimer = setTimeout(() => {
        this.refresh().catch((err: Error) => { this.log.error('could not re-sign our record - %e', err) })
      }, this.ctx.init.recordRefreshInterval)
    }
  }

  /** a provider of the room's CID: a member, perhaps not yet known */
  found (provider: PeerInfo): void {
    if (provider.id.equals(this.ctx.components.peerId) || (this.rosterSet != null && !this.rosterSet.has(provider.id))) {
      return
    }

    let member = this.memberMap.get(provider.id)

    if (member == null) {
      if (this.memberMap.size >= this.ctx.init.maxMembers) {
        return
      }

      member = this.addMember(provider.id)
    }

    if (member.record == null) {
      member.providerAddrs = provider.multiaddrs
    }

    this.connect(member)
  }

  /** whether no member has a stream with us */
  get alone (): boolean {
    return this.all().every(member => member.session == null)
  }

  private onSelfUpdate (): void {
    const before = this.own?.multiaddrs.map(ma => ma.toString()).sort().join()
    const after = this.ctx.components.addressManager.getAddresses().map(ma => ma.toString()).sort().join()

    if (before !== after) {
      this.refresh().catch((err: Error) => { this.log.error('could not re-sign our record - %e', err) })
      this.discovery.provide()
    }
  }
}
