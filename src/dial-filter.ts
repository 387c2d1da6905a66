import { getNetConfig, isPrivateIp } from '@libp2p/utils'
import { CODE_P2P_CIRCUIT, multiaddr } from '@multiformats/multiaddr'
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

  /**
   * Resolves a DNS name to its IPs (Node: `dns.lookup`). A `/dns`, `/dns4` or
   * `/dns6` address not on `allowedHosts` is refused when any IP of its name
   * is private; without a resolver only `localhost` names are refused.
   */
  resolveHost?(name: string, options?: { signal?: AbortSignal }): Promise<string[]>
}

/**
 * The host an address is dialed on (its first component's, for a relayed
 * address the relay's), or undefined when it has none (`/webrtc/p2p/...`)
 */
export function dialHost (addr: Multiaddr): string | undefined {
  return netConfig(addr)?.host
}

function netConfig (addr: Multiaddr): ReturnType<typeof getNetConfig> | undefined {
  try {
    return getNetConfig(addr)
  } catch {
    return undefined
  }
}

/** the eight 16-bit groups of an IPv6 address, by multiaddr's own codec (`/ip6` is a one-byte code and 16 bytes) */
function ipv6Groups (ip: string): number[] | undefined {
  try {
    const bytes = multiaddr(`/ip6/${ip}`).bytes.subarray(1)
    return bytes.length === 16 ? Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]) : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether `ip` is private, loopback, link-local or otherwise not globally
 * routable: `@libp2p/utils`' `isPrivateIp`, plus IPv6 forms it misses that
 * embed an IPv4 address (IPv4-compatible `::/96`, SIIT `::ffff:0:0/96`,
 * NAT64 `64:ff9b::/96` written in hex), local-use NAT64 `64:ff9b:1::/48` and
 * site-local `fec0::/10`.
 */
export function isPrivateAddress (ip: string): boolean {
  if (isPrivateIp(ip) === true) {
    return true
  }

  if (!ip.includes(':')) {
    return false
  }

  const g = ipv6Groups(ip)

  if (g == null) {
    return false
  }

  const embedded = (): boolean => isPrivateIp(`${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`) === true
  const zeroTo = (n: number): boolean => g.slice(0, n).every(x => x === 0)

  if (zeroTo(6) || (zeroTo(5) && g[5] === 0xffff) || (zeroTo(4) && g[4] === 0xffff && g[5] === 0)) {
    return embedded()
  }

  if (g[0] === 0x64 && g[1] === 0xff9b) {
    // 64:ff9b:1::/48 is for local use; 64:ff9b::/96 embeds an IPv4 address
    return g[2] === 1 || (g.slice(2, 6).every(x => x === 0) && embedded())
  }

  return (g[0] & 0xffc0) === 0xfec0
}

/** a DNS name as its resolver sees it: lower case, no trailing dot */
function normalName (name: string): string {
  return name.toLowerCase().replace(/\.$/, '')
}

/** whether the host an address is dialed on (its `netConfig`) is private (see {@link isPrivateAddress}) */
async function isPrivateHost (config: ReturnType<typeof getNetConfig>, init: DialFilterInit): Promise<boolean> {
  if (config.type === 'ip4' || config.type === 'ip6') {
    return isPrivateAddress(config.host)
  }

  if (config.type !== 'dns' && config.type !== 'dns4' && config.type !== 'dns6') {
    return false
  }

  const name = normalName(config.host)

  if (name === 'localhost' || name.endsWith('.localhost')) {
    return true
  }

  if (init.resolveHost == null) {
    return false
  }

  try {
    const ips = await init.resolveHost(name, { signal: AbortSignal.timeout(5_000) })
    return ips.some(isPrivateAddress)
  } catch {
    // a name that does not resolve here cannot be dialed here either
    return false
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
 * link-local addresses (see {@link isPrivateAddress}; judged on the address's
 * first host, a relayed address's relay; a DNS name on what it resolves to
 * when `resolveHost` is given) except on `allowedHosts`,
 * as a browser's libp2p refuses them by default. Any address a remote peer
 * names (a member record, a DHT provider entry, identify) could otherwise make
 * the node connect to services on its own machine or LAN. A node whose relays
 * and members are on a LAN sets `dialPrivateAddresses`.
 *
 * The wrapped gater's own `denyDialMultiaddr` is asked as well: an address is
 * dialed only when both allow it.
 */
export function filterDials (gater: ConnectionGater = {}, init: DialFilterInit = {}): ConnectionGater {
  const allowedHosts = new Set([...(init.allowedHosts ?? [])].map(normalName))

  return {
    ...gater,
    denyDialMultiaddr: async (addr: Multiaddr): Promise<boolean> => {
      const config = netConfig(addr)

      if (config == null || !allowedHosts.has(normalName(config.host))) {
        if (init.dialPrivateAddresses !== true && config != null && await isPrivateHost(config, init)) {
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
