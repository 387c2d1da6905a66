/**
 * A connection started with a PROXY protocol header that cannot be used: not
 * v1 or v2, cut short, too long, or without a usable client address. The
 * socket is closed.
 */
export class ProxyHeaderError extends Error {
  static name = 'ProxyHeaderError'
  name = 'ProxyHeaderError'
}

/**
 * A PROXY protocol header came from a peer that is not a trusted proxy
 * (`--trust-proxy`). The socket is closed.
 */
export class UntrustedProxyError extends Error {
  static name = 'UntrustedProxyError'
  name = 'UntrustedProxyError'
}

/**
 * A socket was refused before its WebSocket upgrade: too many sockets not yet
 * upgraded, in total or from its address.
 */
export class TooManyPendingSocketsError extends Error {
  static name = 'TooManyPendingSocketsError'
  name = 'TooManyPendingSocketsError'
}
