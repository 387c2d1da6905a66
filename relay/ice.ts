import { createHmac } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { checkIceServers, hostsOf, MAX_ICE_SERVERS, parseIceUrl } from '../src/relays/index.ts'
import { UsageError } from './errors.ts'

const WILDCARDS = new Set(['0.0.0.0', '::', ''])

/**
 * Parses an `--ice-server` value: a `stun:`, `stuns:`, `turn:` or `turns:`
 * URL, TURN ones with the credentials in front of the host:
 * `turn:user:pass@turn.example.com:3478?transport=udp` (percent-decoded; the
 * credentials may hold only the characters `checkIceServers` allows).
 *
 * @throws {UsageError} naming `label`
 */
export function parseIceServerFlag (label: string, value: string): RTCIceServer {
  const match = /^(stuns?|turns?):(?:([^:@/]*):([^@/]*)@)?(.*)$/.exec(value.trim())

  if (match == null) {
    throw new UsageError(`${label} must be stun:host[:port] or turn:user:password@host[:port][?transport=udp|tcp], got "${value}"`)
  }

  const [, scheme, user, pass, rest] = match
  let username: string | undefined
  let credential: string | undefined

  try {
    username = user != null ? decodeURIComponent(user) : undefined
    credential = pass != null ? decodeURIComponent(pass) : undefined
  } catch {
    throw new UsageError(`${label}: bad percent-encoding in the credentials of "${value}"`)
  }

  if (scheme.startsWith('stun') && username != null) {
    throw new UsageError(`${label}: a STUN server takes no credentials, got "${value}"`)
  }

  const server: RTCIceServer = { urls: [`${scheme}:${rest}`], ...(username != null ? { username, credential } : {}) }

  try {
    // TURN without credentials gets them from --turn-secret-file (checked by the caller)
    checkIceServers([{ urls: server.urls as string[], username: username ?? (scheme.startsWith('turn') ? 'minted' : undefined), credential: credential ?? (scheme.startsWith('turn') ? 'minted' : undefined) }])
  } catch (err: any) {
    throw new UsageError(`${label}: ${err.message}`)
  }

  return server
}

/**
 * The host clients reach the relay's STUN server on: `--stun-announce`, else
 * the host of the first `--announce` address that names one, else `--host`
 * unless it is a wildcard address.
 *
 * @throws {UsageError} when none of them gives one
 */
export function stunHost (init: { host: string, announce: string[], stunAnnounce?: string }): string {
  if (init.stunAnnounce != null) {
    return init.stunAnnounce
  }

  for (const addr of init.announce) {
    let host: string | undefined

    try {
      host = [...hostsOf([multiaddr(addr)])][0]
    } catch {
      throw new UsageError(`--announce: not a multiaddr: "${addr}"`)
    }

    if (host != null) {
      return host
    }
  }

  if (!WILDCARDS.has(init.host)) {
    return init.host
  }

  throw new UsageError(`--stun-port: clients cannot be told where the STUN server is (--host ${init.host} is a wildcard and no --announce names a host): pass --stun-announce <host>`)
}

/**
 * The ICE servers the relay hands out: its own STUN server (when on), then
 * the `--ice-server` ones.
 *
 * @throws {UsageError} when they are more than clients accept
 */
export function relayIceServers (init: { host: string, announce: string[], stunAnnounce?: string, iceServers: RTCIceServer[] }, stunPort?: number): RTCIceServer[] {
  const own: RTCIceServer[] = []

  if (stunPort != null) {
    const host = stunHost(init)
    own.push({ urls: [`stun:${host.includes(':') ? `[${host}]` : host}:${stunPort}`] })
  }

  const servers = [...own, ...init.iceServers]

  if (servers.length > MAX_ICE_SERVERS) {
    throw new UsageError(`--ice-server: clients accept at most ${MAX_ICE_SERVERS} ICE servers from a relay${stunPort != null ? ' (its STUN server included)' : ''}, got ${servers.length}`)
  }

  return servers
}

/**
 * Checks a `--stun-announce` value: a DNS name or an IP address.
 *
 * @throws {UsageError}
 */
export function parseStunAnnounce (label: string, value: string): string {
  const host = value.trim()

  try {
    return parseIceUrl(`stun:${host.includes(':') ? `[${host.replace(/^\[|\]$/g, '')}]` : host}`).host
  } catch {
    throw new UsageError(`${label} must be a host name or an IP address, got "${value}"`)
  }
}

/** whether `server` is a TURN server given without credentials, which get minted from the TURN secret */
export function needsTurnCredentials (server: RTCIceServer): boolean {
  return server.username == null && [server.urls].flat().some(url => url.startsWith('turn'))
}

/**
 * The servers with time-limited credentials for each TURN server given
 * without them, as coturn's `use-auth-secret` (the "TURN REST API") checks
 * them: the username is the expiry in seconds since the epoch, the
 * credential the base64 HMAC-SHA1 of the username under the shared secret.
 */
export function mintTurnCredentials (servers: RTCIceServer[], secret: string, ttlSeconds: number, now = Date.now()): RTCIceServer[] {
  // no `:relaymesh` suffix: node-datachannel puts the username in a URL, where a `:` ends it
  const username = `${Math.floor(now / 1000) + ttlSeconds}`
  const credential = createHmac('sha1', secret).update(username).digest('base64')

  return servers.map(server => needsTurnCredentials(server) ? { ...server, username, credential } : server)
}
