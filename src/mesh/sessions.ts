import { InvalidMessageError, TimeoutError } from '@libp2p/interface'
import { openMemberRecord } from '../envelope/record.ts'
import { RoomClosedError } from './errors.ts'
import { handleHeartbeat } from './handlers/heartbeat.ts'
import { handleMessage } from './handlers/message.ts'
import { handleRecord } from './handlers/record.ts'
import type { Member } from './member.ts'
import type { RoomImpl } from './room.ts'
import type { Session } from './session.ts'
import type { MemberRecord } from '../envelope/record.ts'
import type { Connection } from '@libp2p/interface'

/**
 * A room's streams with its members: the handshake (each side's own signed
 * record first), which stream a pair keeps when it has two, and reading.
 */
export class Sessions {
  private readonly room: RoomImpl

  constructor (room: RoomImpl) {
    this.room = room
  }

  /**
   * Takes a stream a member opened to us, whose first message (its record,
   * signed by it) has been checked by the service.
   */
  async acceptInbound (session: Session, record: MemberRecord): Promise<void> {
    if (this.room.isClosed) {
      throw new RoomClosedError(`room "${this.room.name}" was left`)
    }

    if (record.leaving) {
      throw new InvalidMessageError('a room stream must start with a record that is not a leave')
    }

    this.room.acceptRecord(record, session)
    const member = this.room.getMember(record.peerId)

    if (member == null) {
      throw new RoomClosedError('room is full')
    }

    member.handshaking = true

    try {
      await session.send({ record: this.room.ownRecord.envelope }, { signal: AbortSignal.timeout(this.room.ctx.init.dialTimeout) })
    } finally {
      member.handshaking = false
    }

    this.adopt(member, session)
  }

  /**
   * Opens a room stream with `member` on `connection` and exchanges records.
   */
  async handshake (member: Member, session: Session, signal: AbortSignal): Promise<Session> {
    try {
      await session.send({ record: this.room.ownRecord.envelope }, { signal })
      const reply = await session.read({ signal })

      if (reply.record == null) {
        throw new InvalidMessageError('a room stream must start with the member\'s record')
      }

      const record = await openMemberRecord(reply.record, {
        room: this.room.name,
        signer: session.connection.remotePeer,
        maxAge: this.room.ctx.init.maxRecordAge
      })
      this.room.acceptRecord(record, session)

      return session
    } catch (err: any) {
      session.abort(err)
      this.room.reportIfRejected(member.peerId, err)
      throw err
    }
  }

  /**
   * Makes `session` the member's stream unless the current one ranks higher:
   * direct beats relayed, then the stream opened by the pair's dialer (see
   * `isPairDialer`; both sides rank alike, so both keep the same stream).
   */
  adopt (member: Member, session: Session): void {
    const current = member.session
    const hadStream = current?.open === true && member.state !== 'unreachable'

    if (this.room.isClosed || this.room.getMember(member.peerId) !== member) {
      void session.close()
      return
    }

    if (!member.joined && this.room.isFull()) {
      // pending members do not count toward maxMembers until now: several
      // may finish their handshakes at once
      this.room.log('room is full (%d members): closing the stream of %p', this.room.ctx.init.maxMembers, member.peerId)
      void session.close()
      this.room.drop(member)
      return
    }

    if (current != null && current !== session && member.state === 'unreachable') {
      // the member is back on a new stream: the silent one is dead
      this.abandon(member, session.connection)
    } else if (current != null && current !== session) {
      if (current.open && this.rank(member, current) > this.rank(member, session)) {
        this.room.log.trace('keeping the %s stream with %p', current.direct ? 'direct' : 'relayed', member.peerId)
        void session.close()
        return
      }

      void current.close()
    }

    const before = member.state
    const route = member.route

    if (!hadStream) {
      // a stream after none: ask for what was missed once its heartbeat
      // (sent at once, below) says it holds messages
      member.askedSinceAdopt = false
    }

    member.session = session
    member.silent = false
    member.failures = 0
    clearTimeout(member.retryTimer)
    clearTimeout(member.abandonTimer)
    member.liveness.restart()
    void this.run(member, session)
    this.room.gossip(member, session)

    if (!hadStream) {
      // what we hold and have sent, at once: a member back from a cut asks
      // for what it missed without waiting for the next interval
      this.room.heartbeats.beat(member)
    }

    if (!member.joined) {
      member.joined = true
      this.room.log('%p joined (%s)', member.peerId, member.state)
      this.room.firstJoined(member)
      this.room.safeDispatchEvent('member:joined', { detail: member.info() })
    } else if (before === 'unreachable') {
      this.room.log('%p rejoined (%s)', member.peerId, member.state)
      this.room.safeDispatchEvent('member:rejoined', { detail: member.info() })
    }

    if (before !== member.state || route !== member.route) {
      this.room.updated(member)
    }

    this.room.upgrader.adopted(member, session)
  }

  /**
   * A member went silent. Its stream is kept for `unreachableTimeout`: a
   * member on a busy machine answers again (see `recovered`), and closing
   * its connection would cost a new WebRTC dial on that busy machine.
   */
  unreachable (member: Member): void {
    this.room.log('%p unreachable: not heard from for %d ms', member.peerId, Date.now() - (member.liveness.lastHeard ?? 0))
    member.silent = true
    this.room.safeDispatchEvent('member:unreachable', { detail: member.info() })
    this.room.updated(member)

    if (member.session != null) {
      clearTimeout(member.abandonTimer)
      member.abandonTimer = setTimeout(() => {
        this.abandon(member)
        this.room.scheduleReconnect(member)
      }, this.room.ctx.init.unreachableTimeout)
    }
  }

  /**
   * Closes the stream of an unreachable member and the connection it ran on
   * (a killed peer's WebRTC connection would linger ~30 s), unless that is
   * `keep`, the connection the member came back on.
   */
  abandon (member: Member, keep?: Connection): void {
    clearTimeout(member.abandonTimer)
    const session = member.session

    if (session == null || member.state !== 'unreachable') {
      return
    }

    this.room.log('closing the stream of %p: silent for %d ms', member.peerId, Date.now() - (member.liveness.lastHeard ?? 0))
    member.session = undefined
    const err = new TimeoutError('no heartbeat')
    session.abort(err)

    if (session.connection !== keep) {
      session.connection.abort(err)
    }
  }

  /** an unreachable member spoke again on its stream */
  private recovered (member: Member, session: Session): void {
    clearTimeout(member.abandonTimer)
    member.silent = false
    this.room.log('%p rejoined (%s): it answered again', member.peerId, member.state)
    this.room.safeDispatchEvent('member:rejoined', { detail: member.info() })
    this.room.updated(member)
  }

  private rank (member: Member, session: Session): number {
    return (session.direct ? 2 : 0) + (session.initiator === this.room.upgrader.isUpgrader(member) ? 1 : 0)
  }

  private async run (member: Member, session: Session): Promise<void> {
    try {
      while (true) {
        const message = await session.read()
        member.liveness.heard()

        if (member.state === 'unreachable' && member.session === session) {
          this.recovered(member, session)
        }

        if (message.heartbeat != null) {
          handleHeartbeat(member, message.heartbeat)
          this.room.messaging.heard(member, message.heartbeat)
        }

        if (message.message != null) {
          await handleMessage(this.room, member, message.message, message.forwardTo)
        }

        if (message.record != null) {
          await handleRecord(this.room, member, session, message.record)
        }
      }
    } catch (err: any) {
      if (this.room.reportIfRejected(member.peerId, err)) {
        session.abort(err)
      } else {
        this.room.log.trace('stream with %p ended - %e', member.peerId, err)
      }
    } finally {
      if (member.session === session) {
        member.session = undefined
        clearTimeout(member.abandonTimer)
        this.room.updated(member)

        if (member.state !== 'unreachable') {
          this.room.connect(member)
        } else {
          this.room.scheduleReconnect(member)
        }
      }
    }
  }
}
