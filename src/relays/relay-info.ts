import { pbStream } from '@libp2p/utils'
import { MAX_RELAY_INFO_SIZE, RELAY_INFO_PROTOCOL } from './constants.ts'
import { InvalidIceServersError } from './errors.ts'
import { checkIceServers } from './ice-servers.ts'
import { RelayInfo } from './pb/relay-info.ts'
import type { AbortOptions, Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/**
 * The host names and addresses in `addrs` (lower case, IPv6 without
 * brackets): where a client knows a relay to be.
 */
export function hostsOf (addrs: Multiaddr[]): Set<string> {
  const hosts = new Set<string>()

  for (const addr of addrs) {
    const host = addr.getComponents().find(c => HOST_PROTOCOLS.has(c.name))?.value

    if (host != null) {
      hosts.add(host.toLowerCase())
    }
  }

  return hosts
}

/**
 * The hosts a relay's ICE servers may be on (lower case, IPv6 without
 * brackets): that of the address we are connected to it on, and those of the
 * app's bootstrap addresses with its peer id. Never addresses learned from the
 * network (DHT provider records, identify): a hostile relay lists whatever it
 * likes there, such as a victim's address for members to send STUN/TURN to.
 */
export function iceServerHosts (remoteAddr: Multiaddr, peer: PeerId, bootstrap: Multiaddr[]): Set<string> {
  const own = bootstrap.filter(addr => addr.getComponents().findLast(c => c.name === 'p2p')?.value === peer.toString())
  return hostsOf([remoteAddr, ...own])
}

/**
 * Asks a relay for its ICE servers on `/relaymesh/relay-info/1.0.0`: reads
 * one message of at most {@link MAX_RELAY_INFO_SIZE} bytes and checks it with
 * {@link checkIceServers} (with `hosts`, every server must be on one of
 * them).
 *
 * @throws {InvalidIceServersError} when the answer is too large, does not decode or breaks a rule
 */
export async function fetchRelayIceServers (connection: Connection, hosts: Set<string> | undefined, options: AbortOptions): Promise<RTCIceServer[]> {
  const stream = await connection.newStream(RELAY_INFO_PROTOCOL, options)
  let info: RelayInfo

  try {
    info = await pbStream(stream, { maxDataLength: MAX_RELAY_INFO_SIZE }).pb(RelayInfo).read(options)
    await stream.close(options)
  } catch (err: any) {
    const refused = err.name === 'AbortError' || err.name === 'TimeoutError' ? err : new InvalidIceServersError(`unusable relay-info answer: ${err.message}`, { cause: err })
    stream.abort(refused)
    throw refused
  }

  return checkIceServers(info.iceServers, hosts)
}
