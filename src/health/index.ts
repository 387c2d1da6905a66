/**
 * @packageDocumentation
 *
 * Per-member liveness and quality for relaymesh rooms. The `mesh` service
 * sends a heartbeat to every member each `heartbeatInterval` (333 ms) on the
 * room's stream and answers the member's; `Liveness` turns that into an RTT
 * (moving average of heartbeat round trips), a loss ratio (heartbeats not
 * answered within two intervals, over the last 20), a 0-100 `healthScore`,
 * and an overdue flag after `missedHeartbeats` (3) intervals of silence, on
 * which the member is reported unreachable and reconnected with `backoff`
 * (exponential, full jitter, 250 ms doubling to 30 s).
 *
 * @example
 *
 * ```TypeScript
 * import { Liveness } from 'relaymesh/health'
 *
 * const liveness = new Liveness({ heartbeatInterval: 500, missedHeartbeats: 3 })
 * liveness.sent(1n)
 * liveness.acknowledged(1n)
 * console.info(liveness.rtt, liveness.loss(), liveness.score('direct'))
 * ```
 */

export { Liveness } from './liveness.ts'
export type { LivenessInit } from './liveness.ts'
export { healthScore } from './score.ts'
export type { MemberState } from './score.ts'
export { backoff } from './backoff.ts'
export { sleep } from './sleep.ts'
export { DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MISSED_HEARTBEATS, DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX } from './constants.ts'
