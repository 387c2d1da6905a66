import { SCORE_FREE_RTT, SCORE_RELAYED_FACTOR, SCORE_RTT_SCALE } from './constants.ts'

/**
 * How a member is connected: `connecting` until it is first heard from,
 * `direct` or `relayed` by the connection its stream runs on, `unreachable`
 * when it has not been heard from for too long.
 */
export type MemberState = 'connecting' | 'direct' | 'relayed' | 'unreachable'

/**
 * A 0-100 health score:
 * `100 × (1 - loss) × 1 / (1 + max(0, rtt - 20) / 500) × (0.8 if relayed)`,
 * rounded; 0 while connecting or unreachable. So a direct member with no loss
 * and a 20 ms RTT scores 100, one at 520 ms scores 50, a relayed one at most
 * 80.
 */
export function healthScore (state: MemberState, rtt: number | undefined, loss: number): number {
  if (state === 'connecting' || state === 'unreachable') {
    return 0
  }

  const latency = 1 / (1 + Math.max(0, (rtt ?? 0) - SCORE_FREE_RTT) / SCORE_RTT_SCALE)
  const route = state === 'relayed' ? SCORE_RELAYED_FACTOR : 1

  return Math.round(100 * Math.min(1, Math.max(0, 1 - loss)) * latency * route)
}
