const second = 1000
const minute = 60 * second
const hour = 60 * minute
const KiB = 1024
const MiB = 1024 * KiB

/**
 * The most reservations held at once
 */
export const DEFAULT_MAX_RESERVATIONS = 128

/**
 * How long a reservation lasts unless renewed, in ms
 */
export const DEFAULT_RESERVATION_TTL = 2 * hour

/**
 * The longest a relayed connection may stay open, in ms
 */
export const DEFAULT_DURATION_LIMIT = 2 * minute

/**
 * The most bytes relayed in each direction of one relayed connection
 */
export const DEFAULT_DATA_LIMIT = BigInt(128 * KiB)

/**
 * The most reservations held for clients connecting from one IP address
 */
export const DEFAULT_MAX_RESERVATIONS_PER_IP = 8

/**
 * The most open circuits a peer may be the source or destination of. A room
 * member holds one circuit per other member while their pair is relayed, and
 * briefly one more while it upgrades to WebRTC: 64 lets a 32-member room fall
 * back to the relay entirely.
 */
export const DEFAULT_MAX_CIRCUITS_PER_PEER = 64

/**
 * The most circuits open at once across all peers (each holds two streams
 * and up to a muxer window of buffered data per side)
 */
export const DEFAULT_MAX_CIRCUITS = 1024

/**
 * The most open circuits whose source or destination connects from one IP
 * address (IPv6: one /64); a circuit between two peers of one IP counts once
 */
export const DEFAULT_MAX_CIRCUITS_PER_IP = 256

/**
 * How many bytes per second all circuits together may forward; 0 means no
 * budget
 */
export const DEFAULT_MAX_RELAYED_BYTES_PER_SECOND = 0

/**
 * How many new reservations a peer may make per rate limit window (renewals
 * of a live reservation are not counted)
 */
export const DEFAULT_RESERVATION_RATE_LIMIT = 10

/**
 * The window the reservation rate limit counts over, in ms
 */
export const DEFAULT_RESERVATION_RATE_LIMIT_WINDOW = minute

/**
 * Hop and stop messages must be exchanged within this time, in ms
 */
export const DEFAULT_HOP_TIMEOUT = 30 * second

/**
 * The most inbound hop streams one connection may have open at once: one per
 * circuit the peer is the source of, plus reservation requests
 */
export const DEFAULT_MAX_INBOUND_HOP_STREAMS = 32

/**
 * The most outbound stop streams one connection may have open at once: one
 * per circuit the peer is the destination of (stock clients accept 300)
 */
export const DEFAULT_MAX_OUTBOUND_STOP_STREAMS = 300

/**
 * While the splice pauses a stream for backpressure, the remote may still
 * send up to one muxer window (yamux: up to 16 MiB) into its read buffer;
 * allow that much so a paused stream is not reset for buffering it
 */
export const SPLICE_MAX_READ_BUFFER_LENGTH = 16 * MiB + 256 * KiB

/**
 * Peer store tag that keeps connections to reserved peers from being pruned
 */
export const RELAY_SOURCE_TAG = 'circuit-relay-source'

/**
 * Tag value for reserved peers
 */
export const RELAY_SOURCE_TAG_VALUE = 1

/**
 * The longest delay setTimeout accepts
 */
export const MAX_TIMEOUT = 2 ** 31 - 1

/**
 * Prefix of every metric this service registers
 */
export const METRIC_PREFIX = 'relaymesh_relay_'

/**
 * How long a circuit stays open after one side closed its end, waiting for
 * the other side to close too, before the relay ends it
 */
export const HALF_CLOSE_TIMEOUT = 5 * second
