import { ipGroupOf } from '../server/utils.ts'

/**
 * Counts the answers of a STUN server in one-second windows, per source
 * (an IPv4 address, or an IPv6 /64: one host has a whole /64 to send from)
 * and in total
 */
export class StunRateLimits {
  private readonly ratePerSource: number
  private readonly rate: number
  private readonly maxSources: number
  private perSource = new Map<string, number>()
  private total = 0

  constructor (ratePerSource: number, rate: number, maxSources: number) {
    this.ratePerSource = ratePerSource
    this.rate = rate
    this.maxSources = maxSources
  }

  /**
   * Counts an answer to `address` and returns true, or returns false when a
   * limit is reached in this window
   */
  admit (address: string): boolean {
    const source = ipGroupOf(address) ?? address
    const seen = this.perSource.get(source) ?? 0

    if (seen >= this.ratePerSource || this.total >= this.rate || (seen === 0 && this.perSource.size >= this.maxSources)) {
      return false
    }

    this.perSource.set(source, seen + 1)
    this.total++
    return true
  }

  /** starts a new window */
  reset (): void {
    this.perSource = new Map()
    this.total = 0
  }
}
