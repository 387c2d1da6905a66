/**
 * A relayed connection carried more bytes in one direction than its limit
 */
export class TransferLimitError extends Error {
  static name = 'TransferLimitError'
  name = 'TransferLimitError'
}

/**
 * A relayed connection stayed open longer than its duration limit
 */
export class DurationLimitError extends Error {
  static name = 'DurationLimitError'
  name = 'DurationLimitError'
}

/**
 * The relay server stopped while the circuit or request was in flight
 */
export class RelayStoppedError extends Error {
  static name = 'RelayStoppedError'
  name = 'RelayStoppedError'
}

/**
 * One side of a circuit closed while the other side could still send to it
 */
export class CircuitClosedError extends Error {
  static name = 'CircuitClosedError'
  name = 'CircuitClosedError'
}
