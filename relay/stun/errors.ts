/**
 * A UDP packet on the STUN port was not a well-formed Binding request (or
 * could not be answered): it is dropped without an answer.
 */
export class InvalidStunMessageError extends Error {
  static name = 'InvalidStunMessageError'
  name = 'InvalidStunMessageError'
}
