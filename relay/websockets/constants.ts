const second = 1000
const KiB = 1024

/**
 * The largest WebSocket message accepted, in bytes: a Noise frame is at most
 * 64 KiB, and libp2p sends one per message (`ws` allows 100 MiB by default)
 */
export const DEFAULT_MAX_FRAME_SIZE = 256 * KiB

/**
 * How long a socket may take from accept to a completed WebSocket upgrade
 * (PROXY header, TLS handshake and the HTTP request included), in ms
 */
export const DEFAULT_UPGRADE_TIMEOUT = 10 * second

/**
 * A socket that neither sends nor receives a byte for this long is closed,
 * in ms (libp2p's connection monitor pings every 10 s once upgraded)
 */
export const DEFAULT_IDLE_TIMEOUT = 60 * second

/** Sockets not yet upgraded to WebSocket, at once */
export const DEFAULT_MAX_PENDING_SOCKETS = 512

/** Sockets not yet upgraded to WebSocket, at once from one client address */
export const DEFAULT_MAX_PENDING_SOCKETS_PER_IP = 32
