/**
 * @packageDocumentation
 *
 * The `relays` service finds circuit relays, measures them and keeps
 * reservations on the fastest, so the node stays reachable through
 * `<relay>/p2p-circuit` and `<relay>/p2p-circuit/webrtc` addresses.
 *
 * Discovery: the relays given as `bootstrap`, plus every provider of the
 * relay namespace CID (`relaymesh/relay/v1`) in relaymesh's own DHT, looked
 * up again soon while spares are missing, every `reevaluateInterval`, and
 * whenever a relay is lost.
 *
 * Selection: each candidate is pinged `probeSamples` times, the median is its
 * latency; the fastest `relayCount` are reserved on. A held relay is replaced
 * only by one faster by more than `hysteresis` and `minGain`. Unreachable
 * candidates are retried with exponential backoff and full jitter.
 *
 * Reservations: renewed when `renewAt` of their remaining lifetime has
 * passed, for any TTL the relay grants; a renewal that fails `renewAttempts`
 * times, or a relay whose connection closes, is replaced by the next best
 * measured candidate at once.
 *
 * ICE servers: after each reservation and renewal the relay is asked, on
 * `/relaymesh/relay-info/1.0.0`, for its STUN and TURN servers; they are
 * listed in `iceServers` (and each `selected` relay's) while the relay is
 * held, and `createMeshNode()` adds them to every WebRTC connection. A
 * hand-out that breaks a bound, or names a host the relay is not known by, is
 * refused whole (`relays:ice-servers-refused`, `InvalidIceServersError`);
 * see the `iceServers` option.
 *
 * `createMeshNode()` adds this service as `node.services.relays`.
 *
 * @example
 *
 * ```TypeScript
 * import { createMeshNode } from 'relaymesh'
 *
 * const node = await createMeshNode({
 *   bootstrap: ['/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooW...'],
 *   relays: { relayCount: 2 }
 * })
 *
 * node.services.relays.addEventListener('relays:relay-selected', (evt) => {
 *   console.info('reserved on %s (%d ms)', evt.detail.peerId, evt.detail.latency)
 * })
 * ```
 */

import { RelaysService } from './relays.ts'
import type { RelayCandidate } from './candidates.ts'
import type { AbortOptions, ComponentLogger, Connection, ContentRouting, Libp2pEvents, PeerId, PeerStore, TypedEventTarget } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'

export type { RelayCandidate, CandidateSource } from './candidates.ts'
export { chooseRelays } from './selection.ts'
export { backoff } from '../health/backoff.ts'
export { DEFAULT_RELAY_NAMESPACE, relayNamespaceCid } from './namespace.ts'
export { relaymeshDHT, withoutRelayedAddresses } from './dht.ts'
export { DEFAULT_DHT_PROTOCOL } from '../constants.ts'
export { ReservationRefusedError, InvalidReservationError, InvalidRelayError, InvalidIceServersError } from './errors.ts'
export { checkIceServers, parseIceUrl } from './ice-servers.ts'
export type { IceUrl } from './ice-servers.ts'
export { RELAY_INFO_PROTOCOL, MAX_RELAY_INFO_SIZE, MAX_ICE_SERVERS, MAX_ICE_URLS, MAX_ICE_URL_LENGTH, MAX_ICE_CREDENTIAL_LENGTH } from './constants.ts'
export { RelayInfo, IceServer } from './pb/relay-info.ts'
export { hostsOf, iceServerHosts } from './relay-info.ts'

/**
 * Options of the `relays` service. Times are in ms.
 */
export interface RelaysInit {
  /**
   * Relay multiaddrs (ending in `/p2p/<peer id>`) to start from
   *
   * @default []
   */
  bootstrap?: Array<string | Multiaddr>

  /**
   * How many relays to hold reservations on
   *
   * @default 2
   */
  relayCount?: number

  /**
   * Look relays up in the DHT (providers of the namespace CID)
   *
   * @default true
   */
  discovery?: boolean

  /**
   * The relay namespace; relays provide its CID in the DHT
   *
   * @default 'relaymesh/relay/v1'
   */
  namespace?: string

  /**
   * Ping round trips per measurement; the median is the latency
   *
   * @default 3
   */
  probeSamples?: number

  /**
   * Longest a measurement or a reservation attempt may take
   *
   * @default 10_000
   */
  probeTimeout?: number

  /**
   * How often to rediscover, re-measure and re-select
   *
   * @default 60_000
   */
  reevaluateInterval?: number

  /**
   * A candidate replaces a held relay only if it is faster by more than this fraction
   *
   * @default 0.3
   */
  hysteresis?: number

  /**
   * ...and by at least this many ms
   *
   * @default 10
   */
  minGain?: number

  /**
   * Renew when this fraction of a reservation's remaining lifetime has passed
   *
   * @default 0.5
   */
  renewAt?: number

  /**
   * Renewal attempts before the relay is replaced
   *
   * @default 3
   */
  renewAttempts?: number

  /**
   * First retry delay for a failed candidate; doubles per failure (full jitter)
   *
   * @default 1_000
   */
  backoffInitial?: number

  /**
   * Longest retry delay for a failed candidate
   *
   * @default 300_000
   */
  backoffMax?: number

  /**
   * Longest one DHT look-up may take
   *
   * @default 20_000
   */
  discoveryTimeout?: number

  /**
   * Most candidates remembered
   *
   * @default 64
   */
  maxCandidates?: number

  /**
   * Ask each relay reserved on for its ICE servers
   * (`/relaymesh/relay-info/1.0.0`: its STUN server, TURN servers its
   * operator runs) and list them in {@link Relays.iceServers}, which
   * `createMeshNode` adds to every WebRTC connection's `iceServers`. `true`
   * keeps a relay's servers only if every one is on the host we are connected
   * to it on or the host of a `bootstrap` address with its peer id (never
   * one it announces in the DHT), so a hostile relay cannot make members send
   * STUN/TURN traffic to third parties;
   * `'any-host'` lifts that rule (TURN on another machine); `false` does not
   * ask. A hand-out that breaks a rule (more than 8 servers, 4 URLs each, URLs
   * over 256 characters, other schemes than stun:, stuns:, turn:, turns:,
   * TURN without credentials, another host) is refused whole:
   * `relays:ice-servers-refused` with an `InvalidIceServersError`.
   *
   * @default true
   */
  iceServers?: boolean | 'any-host'
}

/**
 * What the service needs from libp2p.
 */
export interface RelaysComponents {
  peerId: PeerId
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  peerStore: PeerStore
  contentRouting: ContentRouting
  ping: Ping
  connectionManager: {
    getConnections(peerId?: PeerId): Connection[]
    openConnection(peer: PeerId | Multiaddr | Multiaddr[], options?: AbortOptions): Promise<Connection>
  }
  transportManager: {
    listen(addrs: Multiaddr[]): Promise<void>
  }
}

/**
 * A relay the node holds a reservation on.
 */
export interface SelectedRelay {
  peerId: PeerId
  /** the relay's address we reserved through */
  addr: Multiaddr
  /** median ping round trip when it was chosen, in ms */
  latency?: number
  /** when the reservation ends unless renewed, ms since the epoch */
  expiry: number
  /** limits the relay applies to circuits to us */
  limit?: { duration?: number, data?: bigint }
  /** the ICE servers it handed out, once received (see `iceServers` in {@link RelaysInit}) */
  iceServers?: RTCIceServer[]
  /** when it was selected, ms since the epoch */
  since: number
  /** renewals so far */
  renewals: number
}

/**
 * Events of the `relays` service.
 */
export interface RelaysEvents {
  /** a reservation was made on a relay; the node is reachable through it */
  'relays:relay-selected': CustomEvent<SelectedRelay>
  /** a held relay was lost (`disconnected`, `renewal-failed`) or `replaced` by a faster one */
  'relays:relay-lost': CustomEvent<{ peerId: PeerId, reason: 'disconnected' | 'renewal-failed' | 'replaced' }>
  /** a reservation was renewed */
  'relays:reservation-renewed': CustomEvent<{ peerId: PeerId, expiry: number }>
  /** a relay was found in the DHT */
  'relays:candidate-discovered': CustomEvent<{ peerId: PeerId, addrs: Multiaddr[] }>
  /** a candidate's latency was measured */
  'relays:candidate-measured': CustomEvent<{ peerId: PeerId, latency: number }>
  /** a relay reserved on handed out ICE servers, which WebRTC connections now use */
  'relays:ice-servers-received': CustomEvent<{ peerId: PeerId, iceServers: RTCIceServer[] }>
  /** a relay's ICE servers broke a rule (an `InvalidIceServersError`) or could not be read; none is used */
  'relays:ice-servers-refused': CustomEvent<{ peerId: PeerId, error: Error }>
  /** a candidate could not be reached or refused us; it is retried after a backoff */
  'relays:candidate-down': CustomEvent<{ peerId: PeerId, error: Error }>
}

/**
 * The `relays` service.
 */
export interface Relays extends TypedEventTarget<RelaysEvents> {
  /** the relays held now, with latency and reservation expiry */
  readonly selected: SelectedRelay[]
  /**
   * The ICE servers handed out by the relays held now, without duplicates
   * (empty with `iceServers: false`)
   */
  readonly iceServers: RTCIceServer[]
  /** every relay known, with its measurement and failures */
  readonly candidates: RelayCandidate[]
  /** rediscover, re-measure and re-select now */
  refresh(options?: AbortOptions): Promise<void>
}

/**
 * Creates the `relays` service. It needs `ping`, `identify`, a content router
 * (the DHT) and the circuit relay transport; list it after `ping` in
 * `services`.
 */
export function relays (init: RelaysInit = {}): (components: RelaysComponents) => Relays {
  return (components) => new RelaysService(components, init)
}
