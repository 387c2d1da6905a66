/**
 * The envelope's signature does not verify (or the bytes are not a signed
 * envelope of our domain).
 */
export class InvalidSignatureError extends Error {
  static name = 'InvalidSignatureError'
  name = 'InvalidSignatureError'
}

/**
 * The envelope was signed by a key other than the one of the peer the record
 * names, or by a peer other than the one that sent it where the sender must
 * sign.
 */
export class WrongSignerError extends Error {
  static name = 'WrongSignerError'
  name = 'WrongSignerError'
}

/**
 * The record is about another room.
 */
export class WrongRoomError extends Error {
  static name = 'WrongRoomError'
  name = 'WrongRoomError'
}

/**
 * The record's timestamp is older than the maximum age, or too far in the
 * future.
 */
export class StaleRecordError extends Error {
  static name = 'StaleRecordError'
  name = 'StaleRecordError'
}

/**
 * The record's sequence number is not newer than the one already accepted
 * from its signer (a replay, or a conflicting record with a reused number).
 */
export class ReplayedRecordError extends Error {
  static name = 'ReplayedRecordError'
  name = 'ReplayedRecordError'
}

/**
 * A message is larger than the protocol allows.
 */
export class MessageTooLargeError extends Error {
  static name = 'MessageTooLargeError'
  name = 'MessageTooLargeError'
}
