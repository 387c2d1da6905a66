import { DEFAULT_MAX_CIRCUITS, DEFAULT_MAX_CIRCUITS_PER_IP, DEFAULT_MAX_CIRCUITS_PER_PEER } from './server/constants.ts'
import { DEFAULT_RELAY_NAMESPACE } from '../src/relays/index.ts'

const second = 1
const secondInMs = 1000
const hourInMs = 60 * 60 * secondInMs

/**
 * The relay program's defaults. Durations are in seconds, sizes in bytes.
 */
export const DEFAULT_RELAY_OPTIONS = {
  host: '127.0.0.1',
  port: 9090,
  tcpPort: 9091,
  keyFile: '.data/relay.key',
  /** go-libp2p and rust-libp2p hold 128; stock js-libp2p 15 */
  maxReservations: 128,
  /** as go-libp2p */
  maxReservationsPerIp: 8,
  /** clients renew well before this */
  reservationTtl: 60 * 60 * second,
  /** long enough for a room to fall back to relaying without being cut off mid-message */
  circuitDuration: 10 * 60 * second,
  circuitData: 64 * 1024 * 1024,
  /** a room member needs one per other member while their pair is relayed */
  maxCircuitsPerPeer: DEFAULT_MAX_CIRCUITS_PER_PEER,
  /** circuits open at once across all peers */
  maxCircuits: DEFAULT_MAX_CIRCUITS,
  /** circuits open at once from or to one IP (IPv6: one /64) */
  maxCircuitsPerIp: DEFAULT_MAX_CIRCUITS_PER_IP,
  /** bytes per second all circuits together may forward (0 = no budget): about 270 Mbit/s */
  maxRelayedBytesPerSecond: 32 * 1024 * 1024,
  /** new reservations per peer per minute; renewals of a live reservation are not counted */
  reservationRate: 10,
  maxConnections: 1024,
  /** stock libp2p: 5, which cuts off clients arriving together from one NAT */
  inboundPerIp: 128,
  /** stock libp2p: 10 */
  maxPending: 256,
  /** WebSocket messages larger than this close the connection (`ws`'s default: 100 MiB); Noise frames are <= 64 KiB */
  wsMaxFrame: 256 * 1024,
  /** from accept to a completed WebSocket upgrade (PROXY header, TLS and HTTP included) */
  wsUpgradeTimeout: 10 * second,
  /** no byte either way for this long closes a socket (libp2p pings every 10 s once connected) */
  wsIdleTimeout: 60 * second,
  /** sockets not yet upgraded to WebSocket, at once */
  wsMaxUnupgraded: 512,
  /**
   * sockets not yet upgraded to WebSocket from one client address, at once: as
   * many as `inboundPerIp`, so the clients behind one NAT that arrive together
   * are not refused here before libp2p's own per-IP limit (32 refused 13 of
   * 100 such clients on a busy machine)
   */
  wsMaxUnupgradedPerIp: 128,
  /** provider records kept for other peers: ~0.5 KiB each with their index and peer store entry */
  dhtMaxProviders: 10_000,
  /** a member provides one CID per room it is in, a relay its namespaces */
  dhtMaxProvidersPerPeer: 32,
  /** a tenth of the total: made-up peer ids of one host cannot fill it */
  dhtMaxProvidersPerIp: 1000,
  /** as many as a room has members (`maxMembers`) */
  dhtMaxProvidersPerKey: 256,
  /** one host with made-up peer ids cannot fill a room's key; members behind one NAT find each other through the first 8 */
  dhtMaxProvidersPerKeyPerIp: 8,
  /** kad-dht clients provide again every 24 to 25 hours; stock servers keep records 48 h */
  dhtProviderTtl: 30 * 60 * 60 * second,
  /** per peer per minute, new or renewed */
  dhtProvideRate: 60,
  metricsPort: 0,
  /** metrics stay on this machine unless told otherwise, whatever --host is */
  metricsHost: '127.0.0.1',
  /** off (-1); 0 = any free port */
  httpPort: -1,
  /** off: coturn, often on the same host, takes 3478; on a public host pass --stun-port 3478 */
  stunPort: -1,
  /** the namespace whose CID the relay provides in the DHT */
  namespace: DEFAULT_RELAY_NAMESPACE
}

/**
 * How long a provider record is valid, in ms: other DHT servers drop a
 * record this old (kad-dht's default)
 */
export const PROVIDE_VALIDITY = 48 * hourInMs

/**
 * The relay provides its namespace again when its record would expire
 * within this many ms (kad-dht's default), so every 24 to 25 hours
 */
export const REPROVIDE_THRESHOLD = 24 * hourInMs

/**
 * How often kad-dht checks which records to provide again, in ms
 */
export const REPROVIDE_INTERVAL = 1 * hourInMs

/**
 * How long the first provide may wait for DHT peers before it is tried again,
 * in ms
 */
export const DEFAULT_PROVIDE_ATTEMPT_TIMEOUT = 60 * secondInMs

/**
 * How long to wait before providing again after an attempt reached no peer,
 * in ms (a DHT server connecting cuts it short)
 */
export const DEFAULT_PROVIDE_RETRY_INTERVAL = 10 * secondInMs

/** After a DHT server connects, provide attempts this many times... */
export const QUICK_RETRIES = 10

/** ...this many ms apart, before falling back to the retry interval */
export const QUICK_RETRY_DELAY = 200

/**
 * The shortest time the relay's connection monitor waits for a ping answer
 * before it aborts the connection (libp2p's default: 5 s). A relay busy
 * admitting clients stalls its event loop (or its clients theirs) for longer
 * than 5 s; every connection whose ping was in flight was then aborted with
 * its reservation, and the clients' redials added load (the capacity
 * benchmark at 2,000 clients held ~200). Dead connections still go: the
 * ping fails at once when the socket has closed, and the WebSocket idle
 * timeout closes a silent one.
 */
export const CONNECTION_MONITOR_MIN_PING_TIMEOUT = 30 * secondInMs

/**
 * How often the relay's connection monitor pings each connection (libp2p's
 * default: 10 s). Holding 2,000 clients the relay spent 37 % of a core, 27–33 %
 * with this (most of the rest answers the clients' own pings). A dead
 * connection still goes within this plus the timeout above (WebSocket ones
 * sooner, by the idle timeout)
 */
export const CONNECTION_MONITOR_PING_INTERVAL = 60 * secondInMs

/**
 * The most connections the page and metrics servers hold open at once; more
 * are closed as they arrive
 */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 256

/**
 * The most connections one IP (an IPv6 /64) holds open at once on the page
 * and metrics servers; a browser opens at most 6 per host
 */
export const DEFAULT_HTTP_MAX_CONNECTIONS_PER_IP = 32

/**
 * A request's headers must arrive within this many ms (Node: 60 s)
 */
export const DEFAULT_HTTP_HEADERS_TIMEOUT = 10 * secondInMs

/**
 * A whole request must arrive within this many ms (Node: 300 s)
 */
export const DEFAULT_HTTP_REQUEST_TIMEOUT = 30 * secondInMs

/**
 * An idle kept-alive connection is closed after this many ms (Node's default)
 */
export const DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT = 5 * secondInMs

/**
 * The Content-Security-Policy of HTML pages the relay serves: scripts and
 * styles from the page's own origin (the chat page has one inline style
 * block), WebSockets to any relay, pictures from the page's own blobs (the
 * files the chat page received), nothing framed or embedded
 */
export const PAGE_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join('; ')
