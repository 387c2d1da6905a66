/**
 * @packageDocumentation
 *
 * A [Circuit Relay v2](https://github.com/libp2p/specs/blob/master/relay/circuit-v2.md)
 * server as a libp2p service. It speaks the standard hop and stop protocols,
 * so stock `circuitRelayTransport()` clients (and go/rust libp2p clients)
 * reserve slots on it and dial each other through it, and it fixes the
 * faults of `circuitRelayServer()` from `@libp2p/circuit-relay-v2`:
 *
 * - A reservation is freed as soon as its client's last direct connection closes, not kept for its whole TTL.
 * - Circuits splice the two streams with backpressure and keep no copy of the relayed bytes: memory stays flat.
 * - Every limit is an option with a documented default, and each refusal is counted in a metric.
 *
 * The data limit applies to each direction of a circuit, as the spec says,
 * and the duration limit is sent to clients in seconds, as the spec says.
 *
 * @example A relay with room for 1000 clients and unlimited circuits
 *
 * ```typescript
 * import { identify } from '@libp2p/identify'
 * import { webSockets } from '@libp2p/websockets'
 * import { createLibp2p } from 'libp2p'
 * import { meshNoise, meshYamux } from 'relaymesh/connection'
 * import { relayServer } from 'relaymesh-relay/server'
 *
 * const relay = await createLibp2p({
 *   addresses: { listen: ['/ip4/0.0.0.0/tcp/4001/ws'] },
 *   transports: [webSockets()],
 *   connectionEncrypters: [meshNoise()],
 *   streamMuxers: [meshYamux()],
 *   services: {
 *     identify: identify(),
 *     relay: relayServer({
 *       maxReservations: 1000,
 *       applyDefaultLimit: false
 *     })
 *   }
 * })
 *
 * relay.services.relay.addEventListener('relay:created-reservation', (evt) => {
 *   console.info('reserved', evt.detail.peer.toString())
 * })
 * ```
 */

import { RelayServer as RelayServerClass } from './relay-server.ts'
import type { AbortOptions, ComponentLogger, Connection, ConnectionGater, Libp2pEvents, Metrics, PeerId, PeerStore, PrivateKey, Startable, StreamHandler, StreamHandlerOptions, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export { RELAY_V2_HOP_CODEC, RELAY_V2_STOP_CODEC } from '../../src/circuit/index.ts'
export { TransferLimitError, DurationLimitError, RelayStoppedError, CircuitClosedError } from './errors.ts'

export interface RelayServerInit {
  /**
   * The most reservations held at once; further RESERVE requests from new
   * peers get RESERVATION_REFUSED
   *
   * @default 128
   */
  maxReservations?: number

  /**
   * How long a reservation lasts unless renewed, in ms. A reservation also
   * ends when its client's last direct connection to the relay closes
   *
   * @default 7_200_000
   */
  reservationTtl?: number

  /**
   * Apply `defaultDurationLimit` and `defaultDataLimit` to circuits. When
   * `false`, circuits are unlimited and clients see unlimited connections
   *
   * @default true
   */
  applyDefaultLimit?: boolean

  /**
   * The longest a circuit may stay open, in ms (sent to clients in seconds,
   * rounded up). 0 means no limit
   *
   * @default 120_000
   */
  defaultDurationLimit?: number

  /**
   * The most bytes a circuit may carry in each direction. 0 means no limit
   *
   * @default 131_072n
   */
  defaultDataLimit?: bigint | number

  /**
   * The most reservations held for clients whose connection comes from one IP
   * address
   *
   * @default 8
   */
  maxReservationsPerIp?: number

  /**
   * The most open circuits a peer may be the source or destination of;
   * further CONNECT requests get RESOURCE_LIMIT_EXCEEDED
   *
   * @default 64
   */
  maxCircuitsPerPeer?: number

  /**
   * The most circuits open at once across all peers; further CONNECT
   * requests get RESOURCE_LIMIT_EXCEEDED (`max_circuits`)
   *
   * @default 1024
   */
  maxCircuits?: number

  /**
   * The most open circuits whose source or destination connects from one IP
   * address, an IPv6 /64 counting as one; further CONNECT requests get
   * RESOURCE_LIMIT_EXCEEDED (`circuits_per_ip`)
   *
   * @default 256
   */
  maxCircuitsPerIp?: number

  /**
   * How many bytes per second all circuits together may forward (both
   * directions). Circuits that would forward more are paused until the
   * budget refills (their senders are held back by the muxer's flow
   * control), and while the budget is spent CONNECT requests get
   * RESOURCE_LIMIT_EXCEEDED (`bandwidth`). 0 means no budget
   *
   * @default 0
   */
  maxRelayedBytesPerSecond?: number

  /**
   * How many new reservations one peer may make per
   * `reservationRateLimitWindow`. Renewing a live reservation is not counted,
   * however often the client does it
   *
   * @default 10
   */
  reservationRateLimit?: number

  /**
   * The window `reservationRateLimit` counts over, in ms
   *
   * @default 60_000
   */
  reservationRateLimitWindow?: number

  /**
   * A hop request, and the stop handshake it causes, must complete within
   * this many ms
   *
   * @default 30_000
   */
  hopTimeout?: number

  /**
   * The most hop streams one connection may have open at once (each circuit
   * the peer opens keeps one open)
   *
   * @default 32
   */
  maxInboundHopStreams?: number

  /**
   * The most stop streams the relay opens on one connection at once (one per
   * circuit to that peer)
   *
   * @default 300
   */
  maxOutboundStopStreams?: number
}

/**
 * The parts of libp2p's Components the server uses; `registrar`,
 * `addressManager` and `connectionManager` are narrowed to the methods it
 * calls, so `@libp2p/interface-internal` is not needed
 */
export interface RelayServerComponents {
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  peerStore: PeerStore
  addressManager: {
    getAddresses(): Multiaddr[]
  }
  peerId: PeerId
  privateKey: PrivateKey
  connectionManager: {
    getConnections(peerId?: PeerId): Connection[]
  }
  connectionGater: ConnectionGater
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  metrics?: Metrics
}

/**
 * Limits applied to each circuit
 */
export interface RelayLimit {
  /**
   * The longest a circuit may stay open, in ms
   */
  duration?: number

  /**
   * The most bytes a circuit may carry in each direction
   */
  data?: bigint
}

/**
 * A reservation held by the relay
 */
export interface RelayReservationInfo {
  /**
   * The peer the reservation is for
   */
  peer: PeerId

  /**
   * When the reservation expires unless renewed
   */
  expiry: Date

  /**
   * The remote address of the connection the reservation was made over
   */
  addr: Multiaddr

  /**
   * Limits applied to circuits to this peer; none when unlimited
   */
  limit?: RelayLimit
}

/**
 * Why a reservation was freed
 */
export type ReservationFreeReason = 'disconnected' | 'expired' | 'failed' | 'stopped'

/**
 * Why a hop request was refused; also the `reason` label of
 * `relaymesh_relay_refusals_total`
 */
export type RefusalReason =
  'max_reservations' |
  'reservations_per_ip' |
  'rate_limit' |
  'relayed_connection' |
  'permission_denied' |
  'no_reservation' |
  'circuits_per_peer' |
  'circuits_per_ip' |
  'max_circuits' |
  'bandwidth' |
  'connection_failed' |
  'malformed_message' |
  'unexpected_message' |
  'timeout'

/**
 * A circuit between two peers through the relay
 */
export interface RelayCircuitInfo {
  /**
   * The peer that opened the circuit
   */
  source: PeerId

  /**
   * The reserved peer the circuit leads to
   */
  destination: PeerId

  /**
   * Limits applied to the circuit
   */
  limit?: RelayLimit
}

export interface RelayCircuitEnd extends RelayCircuitInfo {
  /**
   * Bytes relayed from source to destination
   */
  sent: number

  /**
   * Bytes relayed from destination to source
   */
  received: number

  /**
   * Why the circuit was aborted, if it did not close normally
   */
  error?: Error
}

export interface RelayRefusal {
  /**
   * The peer whose request was refused
   */
  peer: PeerId

  reason: RefusalReason
}

/**
 * Counters kept since the service was created
 */
export interface RelayServerStats {
  /**
   * Reservations held now
   */
  reservations: number
  reservationsCreated: number
  reservationsRenewed: number
  reservationsFreed: number

  /**
   * Circuits open now
   */
  circuits: number
  circuitsTotal: number

  /**
   * Bytes relayed over circuits, both directions
   */
  bytesRelayed: number

  /**
   * Refused requests by reason
   */
  refusals: Record<RefusalReason, number>
}

export interface RelayServerEvents {
  'relay:created-reservation': CustomEvent<RelayReservationInfo>
  'relay:renewed-reservation': CustomEvent<RelayReservationInfo>
  'relay:freed-reservation': CustomEvent<RelayReservationInfo & { reason: ReservationFreeReason }>
  'relay:refused-request': CustomEvent<RelayRefusal>
  'relay:opened-circuit': CustomEvent<RelayCircuitInfo>
  'relay:closed-circuit': CustomEvent<RelayCircuitEnd>
}

export interface RelayServer extends TypedEventTarget<RelayServerEvents>, Startable {
  /**
   * A snapshot of the reservations held now
   */
  readonly reservations: RelayReservationInfo[]

  /**
   * How many reservations are held now
   */
  readonly reservationCount: number

  /**
   * How many circuits are open now
   */
  readonly circuitCount: number

  /**
   * Counters since the service was created
   */
  readonly stats: RelayServerStats

  /**
   * The reservation held for `peer`, if any
   */
  getReservation(peer: PeerId): RelayReservationInfo | undefined
}

/**
 * Creates a circuit relay v2 server service
 */
export function relayServer (init: RelayServerInit = {}): (components: RelayServerComponents) => RelayServer {
  return (components) => new RelayServerClass(components, init)
}
