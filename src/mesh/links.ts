import { InvalidMessageError, TimeoutError } from '@libp2p/interface'
import { openMemberRecord } from '../envelope/record.ts'
import { backoff } from '../health/backoff.ts'
import { FIRST_CONTACT_WAIT_LIMIT, LEAVE_FLUSH_TIMEOUT } from './constants.ts'
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
 * A room's links with its members (see `Link`): when and how each is
 * connected, the handshake on every new stream (each side's own signed record
 * first), which stream a pair keeps when it has two, reading, silence and
 * reconnection. `LinkDialer` opens the connections.
 */
export class Links {
  private readonly room: RoomImpl

  constructor (room: RoomImpl) {
    this.room = room
  }

  /**
   * The handshake, one for streams either side opened: the side that opened
   * the stream sends its own record and reads the member's; the other has
   * read the opener's already (the `mesh` service did, to find the room:
   * `received`) and answers with its own. The stream then becomes the
   * member's link unless the link runs on a better one. A refused record is
   * reported, and the stream aborted, before the error is thrown. In a
   * private room both sides prove the secret first (see `authenticate`; the
   * other side read the opener's proof, not a record, and `received` is
   * absent).
   */
  async handshake (session: Session, signal: AbortSignal, received?: MemberRecord): Promise<Member> {
    try {
      if (this.room.isClosed) {
        throw new RoomClosedError(`room "${this.room.name}" was left`)
      }

      if (this.room.secret != null) {
        await this.authenticate(session, signal)
      }

      if (session.initiator) {
        await session.send({ record: this.room.ownRecord.envelope }, { signal })
      }

      const record = received ?? await this.readRecord(session, signal)

      if (record.leaving) {
        throw new InvalidMessageError('a room stream must start with a record that is not a leave')
      }

      this.room.acceptRecord(record, session)
      const member = this.room.getMember(record.peerId)

      if (member == null) {
        throw new RoomClosedError(this.room.isFull() ? 'room is full' : `${record.peerId} was not taken as a member`)
      }

      if (!session.initiator) {
        member.link.handshaking = true

        try {
          await session.send({ record: this.room.ownRecord.envelope }, { signal })
        } finally {
          member.link.handshaking = false
        }
      }

      this.adopt(member, session)
      return member
    } catch (err: any) {
      session.abort(err)
      this.room.reportIfRejected(session.connection.remotePeer, err)
      throw err
    }
  }

  /**
   * A private room's first frames: the side that opened the stream names
   * the room and gives its proof of the secret, the other side (which checked
   * it, see `MeshService`) answers with its own; the opener sends nothing
   * more before that answer is checked.
   *
   * @throws {WrongSecretError} the other side's proof does not check
   */
  private async authenticate (session: Session, signal: AbortSignal): Promise<void> {
    const secret = this.room.secret!
    const self = this.room.ctx.components.peerId
    const remote = session.connection.remotePeer

    if (!session.initiator) {
      await session.send({ auth: { room: new Uint8Array(0), proof: await secret.prove('answerer', remote, self) } }, { signal })
      return
    }

    await session.send({ auth: { room: secret.cid.bytes, proof: await secret.prove('opener', self, remote) } }, { signal })
    const answer = await session.read({ signal })
    await secret.check(answer.auth?.proof, 'answerer', self, remote)
  }

  private async readRecord (session: Session, signal: AbortSignal): Promise<MemberRecord> {
    const reply = await session.read({ signal })

    if (reply.record == null) {
      throw new InvalidMessageError('a room stream must start with the member\'s record')
    }

    return openMemberRecord(reply.record, {
      room: this.room.tag,
      signer: session.connection.remotePeer,
      maxAge: this.room.ctx.init.maxRecordAge
    })
  }

  /**
   * Connects to `member` unless a stream or an attempt exists; a failure is
   * retried with backoff. `heard` says how a member not yet contacted came
   * to be known (DHT or gossip): on that first contact the pair's dialer
   * dials at once, and the other mostly waits for it (`waitsForDialer`),
   * since a WebRTC dial from each side costs twice the work.
   */
  connect (member: Member, heard?: 'dht' | 'gossip'): void {
    if (this.room.isClosed || member.link.state === 'gone' || member.session != null || member.link.connecting != null || member.link.dialerWaitTimer != null) {
      // a wait for the pair's dialer ends in a dial of our own: a record or
      // DHT entry arriving meanwhile must not start a relayed one now
      return
    }

    if (member.multiaddrs.length === 0 && this.room.ctx.components.connectionManager.getConnections(member.peerId).length === 0) {
      // nowhere to dial yet (a DHT entry without addresses): a record or a
      // provider entry with addresses calls again
      return
    }

    clearTimeout(member.link.retryTimer)

    const firstContact = !member.link.contacted
    member.link.contacted = true

    if (firstContact && heard != null && this.waitsForDialer(member, heard)) {
      this.waitForDialer(member, Date.now())
      return
    }

    this.dial(member, firstContact && heard != null)
  }

  /**
   * Whether, on first contact, we leave the dial to the pair's dialer
   * (never when we are the dialer; an open connection to it does not stop
   * the wait, as it may be the dialer's signaling). A
   * member heard of through gossip heard of us through the same gossip. One
   * found in the DHT knows of us if it looked the room up after we provided
   * (it joined with us), else once another member passes our record on to
   * it: so we wait only when another member will get our record from us (we
   * have a stream with it, or dial it). A newcomer to a room of one dials at
   * once.
   */
  private waitsForDialer (member: Member, heard: 'dht' | 'gossip'): boolean {
    if (this.room.dialer.isPairDialer(member)) {
      return false
    }

    return heard === 'gossip' || this.room.all().some(other => other !== member && (other.session?.open === true || this.room.dialer.isPairDialer(other)))
  }

  /**
   * Waits for the pair's dialer (`dialerWait`), longer while its dial is
   * under way (a connection the dialer opened since the wait began is open:
   * its signaling), up to `FIRST_CONTACT_WAIT_LIMIT` in all; then dials
   * WebRTC ourselves. A stream that begins meanwhile ends the wait.
   */
  private waitForDialer (member: Member, since: number): void {
    member.link.dialerWaitTimer = setTimeout(() => {
      member.link.dialerWaitTimer = undefined
      const underWay = this.room.ctx.components.connectionManager.getConnections(member.peerId).some(conn => conn.direction === 'inbound' && conn.timeline.open >= since)

      if (underWay && member.session == null && Date.now() - since < FIRST_CONTACT_WAIT_LIMIT) {
        this.waitForDialer(member, since)
        return
      }

      this.dial(member, true)
    }, Math.max(0, Math.min(this.room.dialer.dialerWait(), since + FIRST_CONTACT_WAIT_LIMIT - Date.now())))
  }

  /** opens a session with `member`, WebRTC first if `webRTCFirst` or we are the pair's dialer */
  private dial (member: Member, webRTCFirst: boolean): void {
    if (this.room.isClosed || member.link.state === 'gone' || member.session != null || member.link.connecting != null) {
      return
    }

    member.link.connecting = this.room.dialer.openSession(member, webRTCFirst)
      .catch((err: Error) => {
        this.room.log('connecting to %p failed - %e', member.peerId, err)

        if (!member.known && member.link.failures >= 5) {
          this.room.drop(member)
        } else {
          this.scheduleReconnect(member)
        }
      })
      .finally(() => {
        member.link.connecting = undefined
      })
  }

  /** connects again after a failure, with exponential backoff and full jitter, while the member has no stream */
  scheduleReconnect (member: Member): void {
    if (this.room.isClosed || member.session != null || this.room.getMember(member.peerId) !== member) {
      return
    }

    const failures = member.link.failed()
    clearTimeout(member.link.retryTimer)
    const delay = backoff(failures, this.room.ctx.init.reconnectInitial, this.room.ctx.init.reconnectMax)
    member.link.retryTimer = setTimeout(() => {
      this.connect(member)
    }, delay)
  }

  /**
   * Makes `session` the member's stream unless the current one ranks higher:
   * direct beats relayed, then the stream opened by the pair's dialer (see
   * `isPairDialer`; both sides rank alike, so both keep the same stream). A
   * stream that loses is closed, and read until the member closes it too.
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
        this.keep(member, current, session)
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

    member.link.adopt(session)
    member.liveness.restart()
    void this.run(member, session)
    this.room.gossip(member, session)
    this.room.messaging.sendMissed(member)
    this.room.notes.streamBegan(member)

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

    this.room.dialer.adopted(member, session)
  }

  /**
   * The member's stream `current` ranks above `lower`, which is closed. The
   * member may have taken `lower` (its own stream had just ended at its
   * end): what it sends there until it sees our end closed, a message it
   * passes on among them, is read, not lost (within `Link.keepLower`'s
   * bounds).
   */
  private keep (member: Member, current: Session, lower: Session): void {
    this.room.log.trace('keeping the %s stream with %p', current.direct ? 'direct' : 'relayed', member.peerId)
    void lower.close({ signal: AbortSignal.timeout(LEAVE_FLUSH_TIMEOUT) })

    if (member.link.keepLower(lower)) {
      void this.run(member, lower)
    }
  }

  /**
   * A member went silent. Its stream is kept for `unreachableTimeout`: a
   * member on a busy machine answers again (see `recovered`), and closing
   * its connection would cost a new WebRTC dial on that busy machine.
   */
  unreachable (member: Member): void {
    this.room.log('%p unreachable: not heard from for %d ms', member.peerId, Date.now() - (member.liveness.lastHeard ?? 0))
    member.link.silence(this.room.ctx.init.unreachableTimeout, () => {
      this.abandon(member)
      this.scheduleReconnect(member)
    })
    this.room.safeDispatchEvent('member:unreachable', { detail: member.info() })
    this.room.updated(member)
  }

  /**
   * Closes the stream of an unreachable member and the connection it ran on
   * (a killed peer's WebRTC connection would linger ~30 s), unless that is
   * `keep`, the connection the member came back on.
   */
  abandon (member: Member, keep?: Connection): void {
    if (member.state !== 'unreachable') {
      return
    }

    const session = member.link.detach()

    if (session == null) {
      return
    }

    this.room.log('closing the stream of %p: silent for %d ms', member.peerId, Date.now() - (member.liveness.lastHeard ?? 0))
    const err = new TimeoutError('no heartbeat')
    session.abort(err)

    if (session.connection !== keep) {
      session.connection.abort(err)
    }
  }

  /** an unreachable member spoke again on its stream */
  private recovered (member: Member, session: Session): void {
    member.link.recovered()
    this.room.log('%p rejoined (%s): it answered again', member.peerId, member.state)
    this.room.safeDispatchEvent('member:rejoined', { detail: member.info() })
    this.room.updated(member)
  }

  private rank (member: Member, session: Session): number {
    return (session.direct ? 2 : 0) + (session.initiator === this.room.dialer.isPairDialer(member) ? 1 : 0)
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
          await handleMessage(this.room, member, message.message, message.forwardTo, message.missed === true)
        }

        if (message.record != null) {
          await handleRecord(this.room, member, session, message.record)
        }

        if (message.note != null) {
          await this.room.notes.receive(member, message.note, message.forwardTo)
        }
      }
    } catch (err: any) {
      if (this.room.reportIfRejected(member.peerId, err)) {
        session.abort(err)
      } else {
        this.room.log.trace('stream with %p ended - %e', member.peerId, err)
      }
    } finally {
      // the member closed its end (it keeps another stream, or left): close
      // ours, or the stream stays half-open on both sides, with the
      // connection under it, until that connection closes (a close that
      // cannot flush in time aborts the stream)
      void session.close({ signal: AbortSignal.timeout(LEAVE_FLUSH_TIMEOUT) })

      if (member.link.detach(session) != null) {
        this.room.updated(member)

        if (member.state !== 'unreachable') {
          this.connect(member)
        } else {
          this.scheduleReconnect(member)
        }
      }
    }
  }
}
