import { anySignal } from 'any-signal'
import { backoff } from '../health/backoff.ts'
import { PRUNE_DELAY, UPGRADE_RETRY_MAX } from './constants.ts'
import { bestConnection, redundantConnections, relayedAddrs, webRTCAddrs } from './routes.ts'
import { Session, isDirect } from './session.ts'
import type { Member } from './member.ts'
import type { RoomImpl } from './room.ts'
import type { Connection } from '@libp2p/interface'

/**
 * Resolves after `ms`, or at once when `signal` aborts.
 */
export async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * Gets each pair of members onto a direct WebRTC connection. The member with
 * the lower peer id dials the other's `/p2p-circuit/webrtc` addresses; the
 * other reaches it over a relayed connection first, which the lower one then
 * upgrades. A failed WebRTC attempt is retried at once with jitter, up to
 * `upgradeAttempts` times, then again after `reconnectMax`; what a failed
 * attempt leaves is closed. Once the room runs on the direct connection, the
 * relayed one is closed.
 */
export class Upgrader {
  private readonly room: RoomImpl

  constructor (room: RoomImpl) {
    this.room = room
  }

  /** whether this node upgrades the pair it forms with `member` */
  isUpgrader (member: Member): boolean {
    return this.room.ctx.components.peerId.toString() < member.peerId.toString()
  }

  /**
   * Opens a room stream with `member`: on an open connection if there is one,
   * else on a new one (WebRTC first if we are the upgrader).
   */
  async openSession (member: Member): Promise<void> {
    const { connectionManager } = this.room.ctx.components
    const signal = anySignal([this.room.signal, AbortSignal.timeout(this.room.ctx.init.dialTimeout)])

    try {
      const connection = bestConnection(connectionManager.getConnections(member.peerId)) ?? await this.dial(member, signal)
      const session = await this.newSession(member, connection, signal)
      this.room.sessions.adopt(member, session)
    } finally {
      signal.clear()
    }
  }

  /** called when `session` became the member's stream */
  adopted (member: Member, session: Session): void {
    clearTimeout(member.pruneTimer)

    if (!this.isUpgrader(member)) {
      return
    }

    if (!session.direct) {
      this.upgrade(member)
    } else if (this.room.ctx.init.closeRelayedAfterUpgrade) {
      member.pruneTimer = setTimeout(() => {
        this.prune(member, session)
      }, PRUNE_DELAY)
    }
  }

  private async newSession (member: Member, connection: Connection, signal: AbortSignal): Promise<Session> {
    const stream = await connection.newStream(this.room.ctx.protocol, { signal, runOnLimitedConnection: true })
    const session = new Session(stream, connection, true, this.room.ctx.init.maxMessageSize)
    return this.room.sessions.handshake(member, session, signal)
  }

  private async dial (member: Member, signal: AbortSignal): Promise<Connection> {
    const { connectionManager } = this.room.ctx.components

    if (this.isUpgrader(member)) {
      try {
        return await this.dialWebRTC(member, signal)
      } catch (err: any) {
        this.room.log('WebRTC dial to %p failed, trying the relay - %e', member.peerId, err)
      }
    }

    const relayed = relayedAddrs(member.multiaddrs, member.peerId)

    return connectionManager.openConnection(relayed.length > 0 ? relayed : member.peerId, { signal })
  }

  private async dialWebRTC (member: Member, signal: AbortSignal): Promise<Connection> {
    const addrs = webRTCAddrs(member.multiaddrs, member.peerId)

    if (addrs.length === 0) {
      throw new Error('the member has no /p2p-circuit/webrtc address')
    }

    // a WebRTC attempt gets half the dial time, so the relay can still be tried
    const attempt = anySignal([signal, AbortSignal.timeout(this.room.ctx.init.dialTimeout / 2)])
    const started = Date.now()

    try {
      const connection = await this.room.ctx.components.connectionManager.openConnection(addrs, { signal: attempt, force: true })

      if (!isDirect(connection)) {
        throw new Error(`dialing ${addrs[0]} gave a connection that is not direct`)
      }

      this.room.log('WebRTC to %p open after %d ms', member.peerId, Date.now() - started)
      return connection
    } catch (err) {
      this.cleanUp(member)
      throw err
    } finally {
      attempt.clear()
    }
  }

  /**
   * Tries to move the pair onto WebRTC: `upgradeAttempts` attempts with
   * jittered delays, then again after `reconnectMax`.
   */
  private upgrade (member: Member): void {
    if (member.upgrading != null || this.room.isClosed) {
      return
    }

    clearTimeout(member.upgradeTimer)
    member.upgrading = (async () => {
      const { upgradeAttempts, reconnectInitial } = this.room.ctx.init

      for (let attempt = 1; attempt <= upgradeAttempts; attempt++) {
        const session = member.session

        if (session == null || session.direct || this.room.isClosed) {
          return
        }

        const signal = anySignal([this.room.signal, AbortSignal.timeout(this.room.ctx.init.dialTimeout)])

        try {
          const connection = await this.dialWebRTC(member, signal)
          this.room.sessions.adopt(member, await this.newSession(member, connection, signal))
          return
        } catch (err: any) {
          this.room.log('WebRTC attempt %d/%d to %p failed - %e', attempt, upgradeAttempts, member.peerId, err)
        } finally {
          signal.clear()
        }

        await sleep(reconnectInitial + backoff(attempt, reconnectInitial, UPGRADE_RETRY_MAX), this.room.signal)
      }

      this.room.log('%p stays relayed; trying WebRTC again in %d ms', member.peerId, this.room.ctx.init.reconnectMax)
      member.upgradeTimer = setTimeout(() => {
        if (member.session?.direct === false) {
          this.upgrade(member)
        }
      }, this.room.ctx.init.reconnectMax)
    })().finally(() => {
      member.upgrading = undefined
    })
  }

  /** closes the relayed (and stray WebRTC) connections to a member on a direct stream */
  private prune (member: Member, session: Session): void {
    if (member.session !== session || !session.open) {
      return
    }

    const connections = this.room.ctx.components.connectionManager.getConnections(member.peerId)

    for (const connection of redundantConnections(connections, session.connection)) {
      this.room.log('closing the %s connection to %p: the room runs on %a', isDirect(connection) ? 'idle' : 'relayed', member.peerId, session.connection.remoteAddr)
      connection.close().catch(err => {
        connection.abort(err)
      })
    }
  }

  /** closes WebRTC connections a failed attempt left open without streams */
  private cleanUp (member: Member): void {
    const keep = member.session?.connection

    for (const connection of this.room.ctx.components.connectionManager.getConnections(member.peerId)) {
      if (connection !== keep && isDirect(connection) && connection.streams.length === 0) {
        connection.abort(new Error('left by a failed WebRTC attempt'))
      }
    }
  }
}
