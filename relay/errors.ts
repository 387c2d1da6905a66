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
