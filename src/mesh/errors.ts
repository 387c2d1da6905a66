/**
 * A room stream or record named a room this node has not joined.
 */
export class RoomNotJoinedError extends Error {
  static name = 'RoomNotJoinedError'
  name = 'RoomNotJoinedError'
}

/**
 * A peer that is not on a roster room's roster tried to take part.
 */
export class NotOnRosterError extends Error {
  static name = 'NotOnRosterError'
  name = 'NotOnRosterError'
}

/**
 * The room was left, or the node stopped.
 */
export class RoomClosedError extends Error {
  static name = 'RoomClosedError'
  name = 'RoomClosedError'
}

/**
 * A replay was refused: the requester has no session with us, already has a
 * replay under way, sent a request twice, or has used its replay budget.
 */
export class ReplayRefusedError extends Error {
  static name = 'ReplayRefusedError'
  name = 'ReplayRefusedError'
}

/**
 * A sender signed two different messages with one epoch and seq.
 */
export class EquivocationError extends Error {
  static name = 'EquivocationError'
  name = 'EquivocationError'
}

/**
 * A member passed on live room messages signed by a key the open room holds
 * no member for (with a stream or pending) and never took a message of: they
 * are dropped unread. Reported once a minute per member; an honest member
 * can meet it too (a sender evicted from the pending ones), and what it
 * passed on then reaches us only if a later replay brings it.
 */
export class NotAMemberError extends Error {
  static name = 'NotAMemberError'
  name = 'NotAMemberError'
}

/**
 * A member passed on more records in a minute than 4 × what a room can hold
 * (`maxMembers` plus the pending): the rest are dropped unread.
 */
export class RecordQuotaError extends Error {
  static name = 'RecordQuotaError'
  name = 'RecordQuotaError'
}

/**
 * None of the relays a member's addresses name may be dialed: none is known
 * to the `relays` service or verified as a relay, and each unverified one
 * was dialed as often as allowed (see `RelayGate`).
 */
export class NoRelayToDialError extends Error {
  static name = 'NoRelayToDialError'
  name = 'NoRelayToDialError'
}

/**
 * A note (presence, an ephemeral or direct message, a request, response or
 * receipt) signed longer ago than `NOTE_MAX_AGE` (presence: never too old),
 * or dated too far in the future; or its sender has too many notes younger
 * than that remembered. It is dropped, and reported once a minute per
 * member: an honest member may pass one on late.
 */
export class StaleNoteError extends Error {
  static name = 'StaleNoteError'
  name = 'StaleNoteError'
}

/**
 * `sendTo` or `request` named a peer that is not a member of the room (one
 * that has signed a record or has had a stream with us).
 */
export class UnknownMemberError extends Error {
  static name = 'UnknownMemberError'
  name = 'UnknownMemberError'
}

/**
 * A member answered a request with a failure: its handler threw (the
 * message is its error's), it has no handler, or it was handling too many
 * of our requests at once.
 */
export class RequestFailedError extends Error {
  static name = 'RequestFailedError'
  name = 'RequestFailedError'
}

/**
 * A large payload cannot be fetched: its sender no longer holds it (past
 * `payloadRetention`, or it left), it is a direct payload for another
 * member, or no member reached could give it after every attempt.
 */
export class PayloadUnavailableError extends Error {
  static name = 'PayloadUnavailableError'
  name = 'PayloadUnavailableError'
}

/**
 * A block of a large payload did not match the hash its sender signed: the
 * member that passed it on altered it (the fetch goes on through another),
 * or the sender signed a wrong manifest.
 */
export class CorruptPayloadError extends Error {
  static name = 'CorruptPayloadError'
  name = 'CorruptPayloadError'
}

/**
 * A private room's stream came without a proof of the room's secret: the
 * peer does not hold it (or holds another one), or the proof was made for
 * another pair. Nothing of the room is sent to such a peer.
 */
export class WrongSecretError extends Error {
  static name = 'WrongSecretError'
  name = 'WrongSecretError'
}
