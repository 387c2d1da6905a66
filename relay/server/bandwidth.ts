/**
 * How long the budget must stay saturated before the relay refuses new
 * circuits, in ms
 */
export const BANDWIDTH_SATURATION_MS = 5000

/**
 * A token bucket shared by every circuit of the relay: each forwarded chunk
 * takes its length in tokens, which refill at `bytesPerSecond` up to one
 * second's worth. A circuit that finds the bucket in debt waits until it is
 * paid back, so the relay as a whole forwards at most `bytesPerSecond` on
 * average, in bursts of at most one second's worth.
 *
 * New circuits are refused only when the budget has been saturated (in debt,
 * or in debt within the last second) for {@link BANDWIDTH_SATURATION_MS}
 * without a break: a short burst of one pair does not shut everyone out.
 * Time is `performance.now()`, which a wall-clock change does not move.
 */
export class BandwidthBudget {
  private readonly bytesPerSecond: number
  private tokens: number
  private updated: number
  private lastDebt = -Infinity
  private saturatedSince?: number

  constructor (bytesPerSecond: number) {
    this.bytesPerSecond = bytesPerSecond
    this.tokens = bytesPerSecond
    this.updated = performance.now()
  }

  /**
   * Takes `bytes` from the budget; returns how many ms the caller should
   * wait before forwarding more (0 while the budget lasts)
   */
  take (bytes: number): number {
    const now = this.refill()
    const saturated = this.saturated(now)
    this.tokens -= bytes

    if (this.tokens >= 0) {
      return 0
    }

    if (!saturated || this.saturatedSince == null) {
      this.saturatedSince = now
    }

    this.lastDebt = now
    return Math.ceil(-this.tokens / this.bytesPerSecond * 1000)
  }

  /**
   * Whether new circuits should be refused: the budget has been saturated
   * for {@link BANDWIDTH_SATURATION_MS}
   */
  get exhausted (): boolean {
    const now = this.refill()

    if (!this.saturated(now)) {
      this.saturatedSince = undefined
      return false
    }

    return this.saturatedSince != null && now - this.saturatedSince >= BANDWIDTH_SATURATION_MS
  }

  private saturated (now: number): boolean {
    return this.tokens < 0 || now - this.lastDebt < 1000
  }

  private refill (): number {
    const now = performance.now()
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + (now - this.updated) / 1000 * this.bytesPerSecond)
    this.updated = now
    return now
  }
}
