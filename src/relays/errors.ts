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
