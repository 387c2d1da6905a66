import { MovingAverage } from '@libp2p/utils'
import { DEFAULT_LOSS_WINDOW } from './constants.ts'
import { healthScore } from './score.ts'
import type { MemberState } from './score.ts'

/**
 * What `Liveness` needs to know.
 */
export interface LivenessInit {
  /** ms between heartbeats */
  heartbeatInterval: number
  /** heartbeats missed before the peer is overdue */
  missedHeartbeats: number
  /** @default DEFAULT_LOSS_WINDOW */
  lossWindow?: number
}

/**
 * The liveness of one peer, from the heartbeats we send it, its
 * acknowledgements and anything else we hear from it: RTT (moving average of
 * heartbeat round trips), loss (share of recent heartbeats not acknowledged
 * in time) and whether
 * it is overdue (not heard from for `missedHeartbeats` intervals).
 */
export class Liveness {
  private readonly init: Required<LivenessInit>
  private readonly pending = new Map<bigint, number>()
  private readonly outcomes: boolean[] = []
  private average?: MovingAverage
  /** when we last heard from the peer, ms since the epoch */
  lastHeard?: number
  /** the peer's highest heartbeat received on the current stream, and when */
  private received = 0n
  private receivedAt = 0

  constructor (init: LivenessInit) {
    this.init = { ...init, lossWindow: init.lossWindow ?? DEFAULT_LOSS_WINDOW }
  }

  /** we sent heartbeat `seq` */
  sent (seq: bigint, now: number = Date.now()): void {
    this.expire(now)
    this.pending.set(seq, now)
  }

  /**
   * The peer has received our heartbeats up to `seq` and held heartbeat `seq`
   * for `delay` ms before saying so (it acknowledges with its own next
   * heartbeat). Every pending heartbeat up to `seq` counts as answered; `seq`
   * itself gives an RTT sample.
   */
  acknowledged (seq: bigint, now: number = Date.now(), delay = 0): void {
    // an acknowledgement later than two intervals was already counted as lost
    this.expire(now)
    this.heard(now)

    for (const [pending, sentAt] of this.pending) {
      if (pending > seq) {
        continue
      }

      this.pending.delete(pending)
      this.record(true)

      if (pending === seq) {
        this.average ??= new MovingAverage(10 * this.init.heartbeatInterval)
        this.average.push(Math.max(0, now - sentAt - delay), now)
      }
    }
  }

  /** heartbeat `seq` arrived from the peer: our next one acknowledges it */
  receivedHeartbeat (seq: bigint, now: number = Date.now()): void {
    if (seq > this.received) {
      this.received = seq
      this.receivedAt = now
    }
  }

  /**
   * What our next heartbeat acknowledges: the peer's highest heartbeat (0:
   * none yet) and how long we have held it, in ms.
   */
  acknowledgement (now: number = Date.now()): { ack: bigint, ackDelay: number } {
    return { ack: this.received, ackDelay: this.received > 0n ? Math.max(0, now - this.receivedAt) : 0 }
  }

  /** anything arrived from the peer */
  heard (now: number = Date.now()): void {
    this.lastHeard = now
  }

  /** round-trip time in ms, once measured */
  get rtt (): number | undefined {
    return this.average == null ? undefined : Math.round(this.average.movingAverage * 10) / 10
  }

  /** share of the recent heartbeats (0-1) not answered within two intervals */
  loss (now: number = Date.now()): number {
    this.expire(now)

    if (this.outcomes.length === 0) {
      return 0
    }

    return this.outcomes.filter(answered => !answered).length / this.outcomes.length
  }

  /** whether nothing has been heard for `missedHeartbeats` intervals */
  overdue (now: number = Date.now()): boolean {
    return this.lastHeard != null && now - this.lastHeard > this.init.heartbeatInterval * this.init.missedHeartbeats
  }

  score (state: MemberState, now: number = Date.now()): number {
    return healthScore(state, this.rtt, this.loss(now))
  }

  /**
   * Forget unanswered and received heartbeats (a new stream starts counting
   * afresh); RTT and loss history are kept.
   */
  restart (now: number = Date.now()): void {
    this.pending.clear()
    this.received = 0n
    this.receivedAt = 0
    this.lastHeard = now
  }

  private expire (now: number): void {
    for (const [seq, sentAt] of this.pending) {
      if (now - sentAt > 2 * this.init.heartbeatInterval) {
        this.pending.delete(seq)
        this.record(false)
      }
    }
  }

  private record (answered: boolean): void {
    this.outcomes.push(answered)

    if (this.outcomes.length > this.init.lossWindow) {
      this.outcomes.shift()
    }
  }
}
