/**
 * A relay answered a reservation request with something other than OK.
 */
export class ReservationRefusedError extends Error {
  static name = 'ReservationRefusedError'
  name = 'ReservationRefusedError'
}

/**
 * A relay's reservation response was malformed (no reservation, no expiry, an
 * expiry in the past, addresses that do not parse).
 */
export class InvalidReservationError extends Error {
  static name = 'InvalidReservationError'
  name = 'InvalidReservationError'
}

/**
 * A relay candidate could not be used: it was reached only over a relayed
 * connection, or it is ourselves.
 */
export class InvalidRelayError extends Error {
  static name = 'InvalidRelayError'
  name = 'InvalidRelayError'
}

/**
 * ICE servers a relay handed out (or an operator configured) break
 * relaymesh's rules: too many, too long, a scheme other than stun:, stuns:,
 * turn: or turns:, TURN without credentials, or a host that is not the
 * relay's. None of them is used.
 */
export class InvalidIceServersError extends Error {
  static name = 'InvalidIceServersError'
  name = 'InvalidIceServersError'
}
