/**
 * The durations of a node's latest successful WebRTC dials, from queued to
 * open: how long a member waits for the other of a pair to dial it is sized
 * from them rather than fixed (see `LinkDialer.dialerWait`).
 */
export class DialTimes {
  private readonly samples: number[] = []
  private readonly size: number

  constructor (size = 16) {
    this.size = size
  }

  add (ms: number): void {
    this.samples.push(ms)

    if (this.samples.length > this.size) {
      this.samples.shift()
    }
  }

  /** the median of the samples, or undefined before the first */
  median (): number | undefined {
    if (this.samples.length === 0) {
      return undefined
    }

    const sorted = [...this.samples].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]
  }
}
