const second = 1000

/**
 * How often a member sends a heartbeat to each other member: a third of a
 * second, so that a dead member is reported within about 1 s (see
 * `DEFAULT_MISSED_HEARTBEATS`).
 */
export const DEFAULT_HEARTBEAT_INTERVAL = 333

/**
 * A member is unreachable after this many heartbeat intervals without hearing
 * from it: with the default interval, 1 s.
 */
export const DEFAULT_MISSED_HEARTBEATS = 3

/**
 * First reconnection delay; doubles per failed attempt, with full jitter.
 */
export const DEFAULT_RECONNECT_INITIAL = 250

/**
 * Longest reconnection delay.
 */
export const DEFAULT_RECONNECT_MAX = 30 * second

/**
 * Heartbeats over which loss is measured.
 */
export const DEFAULT_LOSS_WINDOW = 20

/**
 * RTT up to this many ms costs a member no score.
 */
export const SCORE_FREE_RTT = 20

/**
 * RTT scale of the score: `SCORE_FREE_RTT + SCORE_RTT_SCALE` ms halves it (see `healthScore`)
 */
export const SCORE_RTT_SCALE = 500

/**
 * A relayed member's score is scaled by this: it works, but through a relay
 * with limits.
 */
export const SCORE_RELAYED_FACTOR = 0.8
