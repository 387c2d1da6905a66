import { anySignal } from 'any-signal'
import { backoff } from '../health/backoff.ts'
import { sleep } from '../health/sleep.ts'
import { FIRST_CONTACT_WAIT_DEFAULT, FIRST_CONTACT_WAIT_MAX, FIRST_CONTACT_WAIT_MIN, PRUNE_DELAY, UPGRADE_RETRY_MAX, maxFrameSize } from './constants.ts'
import { NoRelayToDialError, RoomClosedError } from './errors.ts'
import { bestConnection, redundantConnections, relayedAddrs, webRTCAddrs } from './routes.ts'
import { Session, isDirect } from './session.ts'
import type { Member } from './member.ts'
import type { RoomImpl } from './room.ts'
import type { Connection, PeerId } from '@libp2p/interface'

/**
 * Gets each pair of members onto a direct WebRTC connection. One member of
 * each pair, chosen by a hash of the two peer ids (so each member dials about
 * half of the others, not the lowest id all of them), dials the other's
 * `/p2p-circuit/webrtc` addresses as soon as it knows of it. The other waits
 * for that dial on first contact (`dialerWait`, longer while the dialer's
 * signaling connection is open: `Links.waitForDialer`), then dials WebRTC
 * itself; later it reaches the dialer over a relayed connection, which the
 * dialer then upgrades. A failed
 * WebRTC attempt is retried at once with jitter, up to `upgradeAttempts`
 * times, then again after `reconnectMax`; what a failed attempt leaves is
 * closed. Once the room runs on the direct connection, the relayed one is
 * closed, and so is, once a heartbeat interval, any other connection to the
 * member that carries no stream (`sweep`).
 */
export class LinkDialer {
  private readonly room: RoomImpl

  constructor (room: RoomImpl) {
    this.room = room
  }

  /** whether this node dials and upgrades the pair it forms with `member` */
  isPairDialer (member: Member): boolean {
    return this.isPairDialerOf(member.peerId)
  }

  /** whether this node dials the pair it would form with `peer` */
  isPairDialerOf (peer: PeerId): boolean {
    return isPairDialer(this.room.ctx.components.peerId.toString(), peer.toString())
  }

  /**
   * How long a member that is not the pair's dialer waits for the dialer's
   * WebRTC dial before it dials itself: 1.5 × the median of this node's own
   * recent dials (the machine and network it shares with the others), within
   * bounds, with up to a quarter more at random.
   */
  dialerWait (): number {
    const median = this.room.ctx.webRTCDialTimes.median()
    const wait = median == null ? FIRST_CONTACT_WAIT_DEFAULT : Math.min(FIRST_CONTACT_WAIT_MAX, Math.max(FIRST_CONTACT_WAIT_MIN, 1.5 * median))
    return wait * (1 + Math.random() / 4)
  }

  /**
   * Opens a room stream with `member`: on an open connection if there is one,
   * else on a new one (WebRTC first if we are the pair's dialer or
   * `webRTCFirst`).
   */
  async openSession (member: Member, webRTCFirst = false): Promise<void> {
    const existing = bestConnection(this.room.ctx.components.connectionManager.getConnections(member.peerId))

    if (existing != null && member.state !== 'unreachable') {
      await this.sessionOn(member, existing)
      return
    }

    if (existing != null) {
      // a member that went silent may have died with its connection still
      // open (a WebRTC connection to a killed peer lingers ~30 s): give the
      // connection a short while, then close it and dial afresh
      const { heartbeatInterval, missedHeartbeats } = this.room.ctx.init

      try {
        await this.sessionOn(member, existing, 2 * heartbeatInterval * missedHeartbeats)
        return
      } catch (err: any) {
        existing.abort(err)
        throw err
      }
    }

    if ((webRTCFirst || this.isPairDialer(member)) && webRTCAddrs(member.multiaddrs, member.peerId).length > 0) {
      try {
        await this.directSession(member)
        return
      } catch (err: any) {
        this.room.log('WebRTC to %p failed, trying the relay - %e', member.peerId, err)
      }
    }

    await this.sessionOn(member, await this.dialRelayed(member))
  }

  private async sessionOn (member: Member, connection: Connection, timeout = this.room.ctx.init.dialTimeout): Promise<void> {
    const signal = anySignal([this.room.signal, AbortSignal.timeout(timeout)])

    try {
      await this.room.links.handshake(await this.newSession(connection, signal), signal)
    } finally {
      signal.clear()
    }
  }

  /** called when `session` became the member's stream */
  adopted (member: Member, session: Session): void {
    clearTimeout(member.link.pruneTimer)

    if (!this.isPairDialer(member)) {
      return
    }

    if (!session.direct) {
      this.upgrade(member)
    } else if (this.room.ctx.init.closeRelayedAfterUpgrade) {
      member.link.pruneTimer = setTimeout(() => {
        this.prune(member, session)
      }, PRUNE_DELAY)
    }
  }

  private async newSession (connection: Connection, signal: AbortSignal): Promise<Session> {
    const stream = await connection.newStream(this.room.ctx.protocol, { signal, runOnLimitedConnection: true })
    return new Session(stream, connection, true, maxFrameSize(this.room.ctx.init))
  }

  private async dialRelayed (member: Member): Promise<Connection> {
    return this.oneDialAtATime(member, async () => {
      const signal = anySignal([this.room.signal, AbortSignal.timeout(this.room.ctx.init.dialTimeout)])

      try {
        const signed = relayedAddrs(member.multiaddrs, member.peerId)
        const relayed = await this.room.ctx.relayGate.admit(signed, { signal })

        if (relayed.length === 0) {
          // an open connection is used as it is; nothing is dialed on what
          // libp2p's peer store holds of the member (identify takes any
          // addresses a peer lists)
          const open = bestConnection(this.room.ctx.components.connectionManager.getConnections(member.peerId))

          if (open != null) {
            return open
          }

          throw noRelayToDial(member, signed)
        }

        this.room.log.trace('dialing %p through the relay at %a', member.peerId, relayed)
        return await this.room.ctx.components.connectionManager.openConnection(relayed, { signal })
      } finally {
        signal.clear()
      }
    })
  }

  /**
   * Runs the dials to one member one after another: libp2p's dial queue
   * merges a dial into one already under way to the same peer, so a WebRTC
   * dial could get the relayed connection another dial opened, or be aborted
   * with it. A dial whose turn comes after the member is gone is not made.
   */
  private async oneDialAtATime <T> (member: Member, dial: () => Promise<T>): Promise<T> {
    const result = (member.link.dialing ?? Promise.resolve()).then(async () => {
      throwIfGone(member)
      return dial()
    })
    member.link.dialing = result.then(() => {}, () => {})
    return result
  }

  /**
   * Dials WebRTC and opens the room stream on it, unless the pair went direct
   * while this attempt waited for an earlier one.
   */
  private async directSession (member: Member): Promise<void> {
    const connection = await this.dialWebRTC(member)

    if (connection != null) {
      await this.sessionOn(member, connection)
    }
  }

  /**
   * One WebRTC attempt, queued with the node's others: many at once on one
   * node (a newcomer to a big room) slow each other past their timeouts.
   * Resolves with nothing when the member is already on a direct stream.
   */
  private async dialWebRTC (member: Member): Promise<Connection | undefined> {
    const signed = webRTCAddrs(member.multiaddrs, member.peerId)

    if (signed.length === 0) {
      throw new Error('the member has no /p2p-circuit/webrtc address')
    }

    const queued = Date.now()

    return this.oneDialAtATime(member, async () => this.room.ctx.webRTCDials.add(async () => {
      // it may have gone while this dial waited in the node's queue
      throwIfGone(member)

      if (member.session?.direct === true && member.session.open) {
        return undefined
      }

      const signal = anySignal([this.room.signal, AbortSignal.timeout(this.room.ctx.init.dialTimeout)])
      const started = Date.now()

      try {
        const addrs = await this.room.ctx.relayGate.admit(signed, { signal })

        if (addrs.length === 0) {
          throw noRelayToDial(member, signed)
        }

        this.room.log.trace('dialing %p over WebRTC at %a', member.peerId, addrs)
        const connection = await this.room.ctx.components.connectionManager.openConnection(addrs, { signal, force: true })

        if (!isDirect(connection)) {
          throw new Error(`dialing ${addrs[0]} gave a connection that is not direct`)
        }

        this.room.log('WebRTC to %p open after %d ms', member.peerId, Date.now() - started)
        this.room.ctx.webRTCDialTimes.add(Date.now() - queued)
        return connection
      } catch (err) {
        this.cleanUp(member)
        throw err
      } finally {
        signal.clear()
      }
    }, { signal: this.room.signal }))
  }

  /**
   * Tries to move the pair onto WebRTC: `upgradeAttempts` attempts with
   * jittered delays, then again after `reconnectMax`.
   */
  private upgrade (member: Member): void {
    if (member.link.upgrading != null || this.room.isClosed) {
      return
    }

    clearTimeout(member.link.upgradeTimer)
    member.link.upgrading = (async () => {
      const { upgradeAttempts, reconnectInitial } = this.room.ctx.init

      for (let attempt = 1; attempt <= upgradeAttempts; attempt++) {
        const session = member.session

        if (session == null || session.direct || this.room.isClosed) {
          return
        }

        try {
          await this.directSession(member)
          return
        } catch (err: any) {
          this.room.log('WebRTC attempt %d/%d to %p failed - %e', attempt, upgradeAttempts, member.peerId, err)
        }

        await sleep(reconnectInitial + backoff(attempt, reconnectInitial, UPGRADE_RETRY_MAX), this.room.signal)
      }

      if (this.room.isClosed || member.link.state === 'gone') {
        return
      }

      this.room.log('%p stays relayed; trying WebRTC again in %d ms', member.peerId, this.room.ctx.init.reconnectMax)
      member.link.upgradeTimer = setTimeout(() => {
        if (member.session?.direct === false) {
          this.upgrade(member)
        }
      }, this.room.ctx.init.reconnectMax)
    })().finally(() => {
      member.link.upgrading = undefined
    })
  }

  /** closes the relayed (and stray WebRTC) connections to a member on a direct stream */
  private prune (member: Member, session: Session): void {
    if (member.session !== session || !session.open) {
      return
    }

    this.closeRedundant(member, session, this.room.ctx.components.connectionManager.getConnections(member.peerId))
  }

  /**
   * Once a heartbeat interval: on the pair's dialer, closes the connections
   * to a member on a direct stream that carry no stream and are
   * `PRUNE_DELAY` old, what the prune after its adoption left: one that
   * opened since (the other side's WebRTC dial, when its wait for ours ran
   * out, or a relayed dial that was under way), or one
   * that still had a stream then. Relayed ones go only with
   * `closeRelayedAfterUpgrade`. A connection with a stream is left alone:
   * another room's session with the member, or signaling still under way,
   * may be on it. The other side's own stream cannot be on a swept
   * connection: the dialer's direct stream ranks above anything it opens,
   * so it closes its own. Not while the member is silent: it may be coming
   * back on a new connection.
   */
  sweep (member: Member, now: number): void {
    const session = member.session

    if (session?.open !== true || !session.direct || member.silent) {
      return
    }

    const connections = this.room.ctx.components.connectionManager.getConnections(member.peerId)

    if (connections.length < 2 || !this.isPairDialer(member)) {
      return
    }

    const closeRelayed = this.room.ctx.init.closeRelayedAfterUpgrade
    this.closeRedundant(member, session, connections.filter(conn =>
      conn.streams.length === 0 && now - conn.timeline.open >= PRUNE_DELAY && (closeRelayed || isDirect(conn))))
  }

  private closeRedundant (member: Member, session: Session, connections: Connection[]): void {
    for (const connection of redundantConnections(connections, session.connection)) {
      this.room.log('closing the %s connection to %p: the room runs on %a', isDirect(connection) ? 'idle' : 'relayed', member.peerId, session.connection.remoteAddr)
      connection.close().catch(err => {
        connection.abort(err)
      })
    }
  }

  /**
   * Closes what a failed WebRTC attempt left open without streams: the
   * WebRTC connection, and the relayed connection its signaling used (each
   * holds a circuit on the relay). Connections the member opened are its
   * own: one may be about to carry its stream.
   */
  private cleanUp (member: Member): void {
    const keep = member.session?.connection

    for (const connection of this.room.ctx.components.connectionManager.getConnections(member.peerId)) {
      if (connection !== keep && connection.direction === 'outbound' && connection.streams.length === 0) {
        connection.abort(new Error('left by a failed WebRTC attempt'))
      }
    }
  }
}

function throwIfGone (member: Member): void {
  if (member.link.state === 'gone') {
    throw new RoomClosedError(`${member.peerId} left the room or was dropped`)
  }
}

function noRelayToDial (member: Member, signed: unknown[]): NoRelayToDialError {
  return new NoRelayToDialError(`none of the ${signed.length} relays ${member.peerId} names could be dialed: unknown to this node and unreachable, or dialed as often as an unverified relay may be`)
}

/**
 * Whether `self` dials the pair it forms with `other`: the lower peer id when
 * the top bit of an FNV-1a hash of the two ids (lower first) is 0, else the
 * higher (FNV's low bits are poorly mixed). Both
 * members compute the same answer, and over many pairs each member dials
 * about half of them.
 */
export function isPairDialer (self: string, other: string): boolean {
  const [low, high] = self < other ? [self, other] : [other, self]
  let hash = 0x811c9dc5

  for (const text of [low, high]) {
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i)
      hash = Math.imul(hash, 0x01000193)
    }
  }

  return (hash >>> 31 === 0) === (self === low)
}
