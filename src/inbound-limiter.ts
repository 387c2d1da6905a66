import { RateLimiter } from '@libp2p/utils'
import { CODE_P2P, CODE_P2P_CIRCUIT } from '@multiformats/multiaddr'
import type { ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Options for the per-source inbound connection limit.
 */
export interface InboundConnectionLimitInit {
  /**
   * New inbound connections accepted per `duration` seconds from one source;
   * for a peer, those whose handshake has not completed
   *
   * @default 5
   */
  perSource?: number

  /**
   * Inbound connections from one peer (relayed or WebRTC) whose handshake
   * completed, per `duration` seconds. They do not count toward `perSource`
   * (see {@link limitInboundConnections}).
   *
   * @default 4 × perSource
   */
  completedPerSource?: number

  /**
   * The window, in seconds
   *
   * @default 1
   */
  duration?: number
}

/**
 * The key an inbound connection is counted under.
 *
 * Stock libp2p counts by IP, but a relayed connection's remote address is
 * `<relay address>/p2p-circuit/p2p/<peer>` and a WebRTC connection set up over
 * a relay is `/webrtc/p2p/<peer>`: every relayed peer would share the relay's
 * bucket. Here a connection that names its remote peer after a circuit (or has
 * no IP at all) is counted under that peer; anything else under its IP.
 */
export function inboundSourceKey (addr: Multiaddr): string {
  const components = addr.getComponents()
  const circuit = components.findLastIndex(c => c.code === CODE_P2P_CIRCUIT)
  const peer = components.slice(circuit + 1).find(c => c.code === CODE_P2P)?.value

  if (circuit !== -1 && peer != null) {
    return `peer:${peer}`
  }

  const ip = components.find(c => c.name === 'ip4' || c.name === 'ip6')?.value

  if (ip != null) {
    return `ip:${ip}`
  }

  return peer != null ? `peer:${peer}` : `addr:${addr.toString()}`
}

/**
 * Wraps a connection gater so that inbound connections are rate limited per
 * source (see {@link inboundSourceKey}) rather than per IP. The stock per-IP
 * threshold must be lifted for this to take effect (`createMeshNode` does).
 *
 * A source named by its peer id (a relayed or WebRTC connection) has two
 * budgets: `perSource` connections whose handshake fails or is still under
 * way, and `completedPerSource` whose handshake completed. A connection
 * moves from the first to the second when its encryption handshake
 * completes, so a peer that hangs up and dials again at once is not refused
 * (it was: the sixth connection in a second, a relayed one and a WebRTC one
 * per dial, failed at the dialer as an `EncryptionFailedError`). A source
 * named by its IP is counted as stock libp2p counts it: every connection,
 * against `perSource`.
 *
 * A peer id costs nothing to make: the per-peer budgets bound what one
 * identity does, not a Sybil; `maxConnections` and the relay's own limits
 * bound the rest.
 */
export function limitInboundConnections (gater: ConnectionGater = {}, init: InboundConnectionLimitInit = {}): ConnectionGater {
  const perSource = init.perSource ?? 5
  const duration = init.duration ?? 1
  const completedPerSource = init.completedPerSource ?? perSource * 4
  const attempts = new RateLimiter({ points: perSource, duration, keyPrefix: 'relaymesh-inbound' })
  const completed = new RateLimiter({ points: completedPerSource, duration, keyPrefix: 'relaymesh-inbound-completed' })
  // how far apart two reads of one window's end may be: half a window
  const windowSlack = duration * 1000 / 2
  // connections charged to a peer-id source until their handshake completes,
  // with the end of the window they were charged in
  const charged = new WeakMap<MultiaddrConnection, { key: string, windowEnd: number }>()

  return {
    ...gater,
    denyInboundConnection: async (maConn: MultiaddrConnection): Promise<boolean> => {
      if (await gater.denyInboundConnection?.(maConn) === true) {
        return true
      }

      const key = inboundSourceKey(maConn.remoteAddr)
      let windowEnd: number

      try {
        windowEnd = Date.now() + attempts.consume(key, 1).msBeforeNext
      } catch {
        maConn.log('inbound connection from %a refused - more than %d per %ds from this source', maConn.remoteAddr, perSource, duration)
        return true
      }

      if (key.startsWith('peer:')) {
        charged.set(maConn, { key, windowEnd })
      }

      return false
    },
    denyInboundEncryptedConnection: async (remotePeer: PeerId, maConn: MultiaddrConnection): Promise<boolean> => {
      if (await gater.denyInboundEncryptedConnection?.(remotePeer, maConn) === true) {
        return true
      }

      const charge = charged.get(maConn)

      if (charge == null) {
        return false
      }

      charged.delete(maConn)

      try {
        completed.consume(charge.key, 1)
      } catch {
        maConn.log('inbound connection from %a refused - more than %d completed per %ds from this source', maConn.remoteAddr, completedPerSource, duration)
        return true
      }

      const state = attempts.get(charge.key)

      // only in the window it was charged in: a point given back in a later
      // one would be another connection's. Windows end `duration` apart;
      // the end read now may differ from the one read at the charge by the
      // time between two clock reads, which a pause of the event loop (a
      // collection, a busy tab) makes many ms
      if (state != null && state.consumedPoints > 0 && Math.abs(Date.now() + state.msBeforeNext - charge.windowEnd) < windowSlack) {
        attempts.reward(charge.key, 1)
      }

      return false
    }
  }
}
