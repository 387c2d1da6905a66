import { RateLimiter } from '@libp2p/utils'
import { CODE_P2P, CODE_P2P_CIRCUIT } from '@multiformats/multiaddr'
import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'
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
 */
export function limitInboundConnections (gater: ConnectionGater = {}, init: InboundConnectionLimitInit = {}): ConnectionGater {
  const limiter = new RateLimiter({
    points: init.perSource ?? 5,
    duration: init.duration ?? 1,
    keyPrefix: 'relaymesh-inbound'
  })

  return {
    ...gater,
    denyInboundConnection: async (maConn: MultiaddrConnection): Promise<boolean> => {
      if (await gater.denyInboundConnection?.(maConn) === true) {
        return true
      }

      try {
        limiter.consume(inboundSourceKey(maConn.remoteAddr), 1)
        return false
      } catch {
        maConn.log('inbound connection from %a refused - more than %d per %ds from this source', maConn.remoteAddr, init.perSource ?? 5, init.duration ?? 1)
        return true
      }
    }
  }
}
