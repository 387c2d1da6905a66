import { MAX_ICE_CREDENTIAL_LENGTH, MAX_ICE_SERVERS, MAX_ICE_URL_LENGTH, MAX_ICE_URLS } from './constants.ts'
import { InvalidIceServersError } from './errors.ts'
import type { IceServer } from './pb/relay-info.ts'

/**
 * The parts of a `stun:`, `stuns:`, `turn:` or `turns:` URL (RFC 7064, RFC
 * 7065) that decide where a WebRTC agent sends traffic.
 */
export interface IceUrl {
  scheme: 'stun' | 'stuns' | 'turn' | 'turns'
  /** a DNS name or an IP address, IPv6 without brackets, lower case */
  host: string
  port?: number
  transport?: 'udp' | 'tcp'
}

/**
 * What a TURN username or credential may hold: RFC 3986 unreserved characters
 * plus base64's `+`, `/` and `=`. node-datachannel puts both into a URL
 * (`turn:user:credential@host`), where `@`, `:`, `?` or `#` from a hostile
 * relay would change the TURN server's host or break every connection.
 */
const ICE_CREDENTIAL = /^[A-Za-z0-9\-._~+/=]+$/

const ICE_URL = /^(stuns?|turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/

/**
 * Parses an ICE server URL strictly: only the four schemes, a host name or
 * address, an optional port and (TURN only) `?transport=udp|tcp`.
 *
 * @throws {InvalidIceServersError}
 */
export function parseIceUrl (url: string): IceUrl {
  const match = url.length <= MAX_ICE_URL_LENGTH ? ICE_URL.exec(url) : null

  if (match == null) {
    throw new InvalidIceServersError(`not a stun:, stuns:, turn: or turns: URL of at most ${MAX_ICE_URL_LENGTH} characters: ${url.slice(0, 80)}`)
  }

  const [, scheme, host, port, transport] = match
  const n = port != null ? Number(port) : undefined

  if (n != null && (n < 1 || n > 65535)) {
    throw new InvalidIceServersError(`bad port in ${url}`)
  }

  if (transport != null && !scheme.startsWith('turn')) {
    throw new InvalidIceServersError(`?transport is for TURN only: ${url}`)
  }

  return {
    scheme: scheme as IceUrl['scheme'],
    host: host.replace(/^\[|\]$/g, '').toLowerCase(),
    port: n,
    transport: transport as IceUrl['transport']
  }
}

/**
 * Checks a list of ICE servers against relaymesh's bounds: at most
 * {@link MAX_ICE_SERVERS} servers of at most {@link MAX_ICE_URLS} URLs each,
 * every URL valid for {@link parseIceUrl}, TURN URLs with a username and a
 * credential, each of 1 to {@link MAX_ICE_CREDENTIAL_LENGTH} characters among
 * `A-Z a-z 0-9 - . _ ~ + / =`. With `hosts`, every URL must name one of them
 * (lower case, IPv6 without brackets). Returns the servers as `RTCIceServer`s.
 *
 * @throws {InvalidIceServersError} naming the first problem
 */
export function checkIceServers (servers: IceServer[], hosts?: Set<string>): RTCIceServer[] {
  if (servers.length > MAX_ICE_SERVERS) {
    throw new InvalidIceServersError(`${servers.length} ICE servers, at most ${MAX_ICE_SERVERS} allowed`)
  }

  return servers.map(server => {
    if (server.urls.length === 0 || server.urls.length > MAX_ICE_URLS) {
      throw new InvalidIceServersError(`an ICE server has ${server.urls.length} URLs, 1 to ${MAX_ICE_URLS} allowed`)
    }

    for (const field of [server.username, server.credential]) {
      if (field != null && field.length > MAX_ICE_CREDENTIAL_LENGTH) {
        throw new InvalidIceServersError(`a TURN username or credential is longer than ${MAX_ICE_CREDENTIAL_LENGTH} characters`)
      }

      if (field != null && !ICE_CREDENTIAL.test(field)) {
        throw new InvalidIceServersError('a TURN username or credential is empty or holds a character other than A-Z a-z 0-9 - . _ ~ + / =')
      }
    }

    for (const url of server.urls) {
      const parsed = parseIceUrl(url)

      if (parsed.scheme.startsWith('turn') && (server.username == null || server.credential == null)) {
        throw new InvalidIceServersError(`TURN server without a username and credential: ${url}`)
      }

      if (hosts != null && !hosts.has(parsed.host)) {
        throw new InvalidIceServersError(`${url} is not on the relay's host (${[...hosts].join(', ')})`)
      }
    }

    return {
      urls: [...server.urls],
      ...(server.username != null ? { username: server.username } : {}),
      ...(server.credential != null ? { credential: server.credential } : {})
    }
  })
}
