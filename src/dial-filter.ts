import { getNetConfig, isPrivate } from '@libp2p/utils'
import { CODE_P2P_CIRCUIT } from '@multiformats/multiaddr'
import type { ConnectionGater } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Options of {@link filterDials}.
 */
export interface DialFilterInit {
  /**
   * Dial private, loopback and link-local addresses on any host (a LAN, tests)
   *
   * @default false
   */
  dialPrivateAddresses?: boolean

  /**
   * Hosts (IPs or DNS names) dialed whatever their address: those of the
   * `bootstrap` addresses the node was given
   */
  allowedHosts?: Iterable<string>

  /**
   * Refuse `ws` (not `wss`) on hosts not in `allowedHosts`, as a browser's
   * libp2p does by default: an https page cannot open them
   *
   * @default false
   */
  denyInsecureWebSockets?: boolean
}

/**
 * The host an address is dialed on (its first component's, for a relayed
 * address the relay's), or undefined when it has none (`/webrtc/p2p/...`)
 */
export function dialHost (addr: Multiaddr): string | undefined {
  try {
    return getNetConfig(addr).host
  } catch {
    return undefined
  }
}

/** whether the first hop of `addr` (up to any /p2p-circuit) is `ws` without TLS */
function isInsecureWebSocket (addr: Multiaddr): boolean {
  const components = addr.getComponents()
  const circuit = components.findIndex(c => c.code === CODE_P2P_CIRCUIT)
  const hop = circuit === -1 ? components : components.slice(0, circuit)

  return hop.some(c => c.name === 'ws') && !hop.some(c => c.name === 'tls')
}

/**
 * Wraps a connection gater so that the node does not dial private, loopback or
 * link-local addresses (those of `@libp2p/utils`' `isPrivate`, judged on the
 * address's first host: a relayed address's relay) except on `allowedHosts`,
 * as a browser's libp2p refuses them by default. Any address a remote peer
 * names (a member record, a DHT provider entry, identify) could otherwise make
 * the node connect to services on its own machine or LAN. A node whose relays
 * and members are on a LAN sets `dialPrivateAddresses`.
 *
 * The wrapped gater's own `denyDialMultiaddr` is asked as well: an address is
 * dialed only when both allow it.
 */
export function filterDials (gater: ConnectionGater = {}, init: DialFilterInit = {}): ConnectionGater {
  const allowedHosts = new Set(init.allowedHosts)

  return {
    ...gater,
    denyDialMultiaddr: async (addr: Multiaddr): Promise<boolean> => {
      const host = dialHost(addr)

      if (host == null || !allowedHosts.has(host)) {
        if (init.dialPrivateAddresses !== true && isPrivate(addr)) {
          return true
        }

        if (init.denyInsecureWebSockets === true && isInsecureWebSocket(addr)) {
          return true
        }
      }

      return await gater.denyDialMultiaddr?.(addr) === true
    }
  }
}
