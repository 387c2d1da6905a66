/**
 * The Kademlia protocol id of relaymesh's own DHT. It differs from the public
 * IPFS DHT (`/ipfs/kad/1.0.0`) so relaymesh nodes never join, load or pollute it.
 */
export const DEFAULT_DHT_PROTOCOL = '/relaymesh/kad/1.0.0'

/**
 * New inbound connections accepted per second from one source. A source is the
 * remote IP for a direct connection and the remote peer for a relayed or
 * WebRTC connection (those all carry the relay's IP, see `inbound-limiter.ts`).
 */
export const DEFAULT_INBOUND_CONNECTIONS_PER_SOURCE = 5

/**
 * Inbound connections that may be mid-upgrade at once. Stock libp2p allows 10,
 * which a room of 20 members joining together exceeds.
 */
export const DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS = 64

/**
 * The least time libp2p's connection monitor gives a ping (and the closing of
 * its stream) before it aborts the connection, in ms. Stock: 5 s, which a
 * busy machine exceeds: in a 20-member room in one process the monitor
 * aborted half the WebRTC connections the mesh had just made. Rooms detect
 * dead members with their own heartbeats; the monitor remains the backstop
 * for other connections (a relay that hangs without closing its socket).
 */
export const DEFAULT_CONNECTION_MONITOR_MIN_TIMEOUT = 20_000
