import { RateLimiter } from '@libp2p/utils'
import { CODE_P2P, CODE_P2P_CIRCUIT } from '@multiformats/multiaddr'
import type { ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Options for the per-source inbound connection limit.
 */
export interface InboundConnectionLimitInit {
  /**
   * New inbound connections accepted per `duration` seconds from one source
   *
   * @default 5
   */
  perSource?: number

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
 * A source named by its peer id (a relayed or WebRTC connection) gets its
 * point back once the connection's encryption handshake completes: what is
 * limited is handshakes that fail or are still under way, so a peer that
 * hangs up and dials again at once is not refused (it was: the sixth
 * connection in a second, a relayed one and a WebRTC one per dial, failed at
 * the dialer as an `EncryptionFailedError`). A source named by its IP is
 * counted as stock libp2p counts it: every connection.
 */
export function limitInboundConnections (gater: ConnectionGater = {}, init: InboundConnectionLimitInit = {}): ConnectionGater {
  const limiter = new RateLimiter({
    points: init.perSource ?? 5,
    duration: init.duration ?? 1,
    keyPrefix: 'relaymesh-inbound'
  })
  // connections charged to a peer-id source, until their handshake completes
  const charged = new WeakMap<MultiaddrConnection, string>()

  return {
    ...gater,
    denyInboundConnection: async (maConn: MultiaddrConnection): Promise<boolean> => {
      if (await gater.denyInboundConnection?.(maConn) === true) {
        return true
      }

      const key = inboundSourceKey(maConn.remoteAddr)

      try {
        limiter.consume(key, 1)
      } catch {
        maConn.log('inbound connection from %a refused - more than %d per %ds from this source', maConn.remoteAddr, init.perSource ?? 5, init.duration ?? 1)
        return true
      }

      if (key.startsWith('peer:')) {
        charged.set(maConn, key)
      }

      return false
    },
    denyInboundEncryptedConnection: async (remotePeer: PeerId, maConn: MultiaddrConnection): Promise<boolean> => {
      if (await gater.denyInboundEncryptedConnection?.(remotePeer, maConn) === true) {
        return true
      }

      const key = charged.get(maConn)

      if (key != null) {
        charged.delete(maConn)
        const state = limiter.get(key)

        // in the window it was charged in only: a reward in the next would
        // start that window with a point to spare
        if (state != null && state.msBeforeNext > 0 && state.consumedPoints > 0) {
          limiter.reward(key, 1)
        }
      }

      return false
    }
  }
}
