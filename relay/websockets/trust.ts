import { BlockList, isIP } from 'node:net'

/**
 * The peers whose word on a client's address is taken: reverse proxies,
 * given as CIDRs (`10.0.0.0/8`, `2001:db8::/32`; a bare address is one host).
 */
export interface TrustedProxies {
  /** whether `address` (as a socket reports it) is one of the trusted proxies */
  has(address: string | undefined): boolean
  /** how many CIDRs there are */
  readonly size: number
}

/**
 * The address without the `::ffff:` of an IPv4 address on a dual-stack
 * socket, so both spellings match an IPv4 CIDR and count as one client, and
 * without the `%zone` of a link-local IPv6 address (`fe80::1%eth0`: the zone
 * names one of our interfaces, not the client, and multiaddrs refuse it).
 */
export function plainAddress (address: string): string {
  const zone = address.indexOf('%')
  const bare = zone >= 0 && address.includes(':') ? address.slice(0, zone) : address
  return bare.startsWith('::ffff:') && isIP(bare.slice(7)) === 4 ? bare.slice(7) : bare
}

/**
 * Parses CIDRs into {@link TrustedProxies}.
 *
 * @throws {Error} with a message naming the CIDR that is not one
 */
export function trustedProxies (cidrs: string[]): TrustedProxies {
  const list = new BlockList()

  for (const cidr of cidrs) {
    const [address, bits, ...rest] = cidr.trim().split('/')
    const family = isIP(address)
    const max = family === 4 ? 32 : 128
    const prefix = bits == null ? max : Number(bits)

    if (family === 0 || rest.length > 0 || (bits != null && !/^\d{1,3}$/.test(bits)) || prefix > max) {
      throw new Error(`"${cidr}" is not an IPv4 or IPv6 address or CIDR (like 10.0.0.0/8 or fd00::/8)`)
    }

    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6')
  }

  return {
    size: cidrs.length,
    has: (address) => {
      if (address == null || cidrs.length === 0) {
        return false
      }

      const plain = plainAddress(address)
      const family = isIP(plain)
      return family !== 0 && list.check(plain, family === 4 ? 'ipv4' : 'ipv6')
    }
  }
}

/**
 * The client's address from an `X-Forwarded-For` header sent by a trusted
 * proxy: the right-most address that is not itself a trusted proxy (each
 * proxy appends the address it got the request from; only those added by
 * our own proxies can be believed). Undefined when the header holds no
 * usable address.
 */
export function forwardedFor (header: string | string[] | undefined, trusted: TrustedProxies): string | undefined {
  if (header == null) {
    return undefined
  }

  const hops = [header].flat().join(',').split(',').map(hop => hop.trim()).filter(hop => hop.length > 0)

  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i])

    if (hop == null) {
      // a name, `unknown` or garbage: nothing we can count on
      return undefined
    }

    if (!trusted.has(hop) || i === 0) {
      return hop
    }
  }

  return undefined
}

/**
 * The address of one `X-Forwarded-For` entry, which proxies write as
 * `192.0.2.1`, `192.0.2.1:5678`, `2001:db8::1`, `[2001:db8::1]` or
 * `[2001:db8::1]:443` (a zone dropped, see {@link plainAddress}); undefined
 * when it is none of these
 */
function hopAddress (hop: string): string | undefined {
  const match = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(hop) ?? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(hop)
  const [address, port] = match == null ? [hop, undefined] : [match[1], match[2]]

  if (port != null && Number(port) > 65535) {
    return undefined
  }

  const plain = plainAddress(address)
  return isIP(plain) === 0 ? undefined : plain
}
