/**
 * The relay program was started with flags it cannot use: an unknown flag, a
 * bad number, a missing value. The message names the flag.
 */
export class UsageError extends Error {
  static name = 'UsageError'
  name = 'UsageError'
}

/**
 * The key file exists but cannot be read or does not hold a protobuf-encoded
 * libp2p private key. The file is left as it is.
 */
export class KeyFileError extends Error {
  static name = 'KeyFileError'
  name = 'KeyFileError'
}

/**
 * A port the relay was told to listen on is taken or cannot be bound.
 */
export class ListenError extends Error {
  static name = 'ListenError'
  name = 'ListenError'
}

/**
 * A DHT provider record of another peer was refused by a quota (see
 * `withProviderQuotas`); kad-dht aborts the sender's stream with it.
 */
export class ProviderQuotaError extends Error {
  static name = 'ProviderQuotaError'
  name = 'ProviderQuotaError'
  /** which quota: `max_providers`, `providers_per_peer`, `providers_per_ip`, `providers_per_key` or `rate_limit` */
  readonly reason: string

  constructor (message: string, reason: string) {
    super(message)
    this.reason = reason
  }
}
