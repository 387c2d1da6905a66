/**
 * A token bucket shared by every circuit of the relay: each forwarded chunk
 * takes its length in tokens, which refill at `bytesPerSecond` up to one
 * second's worth. A circuit that finds the bucket in debt waits until it is
 * paid back, so the relay as a whole forwards at most `bytesPerSecond` on
 * average, in bursts of at most one second's worth.
 */
export class BandwidthBudget {
  private readonly bytesPerSecond: number
  private tokens: number
  private updated: number
  private lastDebt: number

  constructor (bytesPerSecond: number) {
    this.bytesPerSecond = bytesPerSecond
    this.tokens = bytesPerSecond
    this.updated = Date.now()
    this.lastDebt = 0
  }

  /**
   * Takes `bytes` from the budget; returns how many ms the caller should
   * wait before forwarding more (0 while the budget lasts)
   */
  take (bytes: number): number {
    this.refill()
    this.tokens -= bytes

    if (this.tokens >= 0) {
      return 0
    }

    this.lastDebt = Date.now()
    return Math.ceil(-this.tokens / this.bytesPerSecond * 1000)
  }

  /**
   * Whether the budget is spent: circuits had to wait for it within the last
   * second
   */
  get exhausted (): boolean {
    this.refill()
    return this.tokens < 0 || Date.now() - this.lastDebt < 1000
  }

  private refill (): void {
    const now = Date.now()
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + (now - this.updated) / 1000 * this.bytesPerSecond)
    this.updated = now
  }
}
