import type { Member } from './member.ts'
import type { Heartbeat } from './pb/mesh.ts'
import type { Session } from './session.ts'

/**
 * What the heartbeat clock acts on.
 */
export interface HeartbeatTarget {
  all(): Member[]
  unreachable(member: Member): void
  updated(member: Member): void
  /** once an interval: drops `member` if it is gone for good; returns whether it did */
  expire(member: Member, now: number): boolean
  /** once an interval, after the members */
  pruneRecords(now: number): void
  dialer: {
    /** once an interval: closes connections to `member` its direct stream does not need */
    sweep(member: Member, now: number): void
  }
  messaging: {
    /** what a heartbeat on `session` says of our messages */
    heartbeatFields(session: Session): Pick<Heartbeat, 'epoch' | 'sent' | 'held' | 'written'>
    /** once an interval: holes are asked for again */
    tick(now: number): void
  }
}

/**
 * Checks how often per heartbeat interval whether a member is overdue: the
 * finer, the closer detection comes to `missedHeartbeats` intervals.
 */
const CHECKS_PER_INTERVAL = 4

/**
 * The room's clock: a heartbeat to every member each interval, and a check
 * four times per interval for members not heard from for `missedHeartbeats`
 * intervals. When our own event loop stalls, the stall is not counted as the
 * members' silence.
 */
export class Heartbeats {
  private readonly target: HeartbeatTarget
  private readonly interval: number
  private timer?: ReturnType<typeof setTimeout>
  private lastCheck = 0
  private lastBeat = 0

  constructor (target: HeartbeatTarget, interval: number) {
    this.target = target
    this.interval = interval
    this.check = this.check.bind(this)
  }

  start (): void {
    this.lastCheck = this.lastBeat = Date.now()
    this.timer = setTimeout(this.check, this.interval / CHECKS_PER_INTERVAL)
  }

  stop (): void {
    clearTimeout(this.timer)
  }

  /**
   * Sends a heartbeat to `member` now (each interval, and when a stream
   * with it begins, so it learns at once what we hold and have sent)
   */
  beat (member: Member, now: number = Date.now()): void {
    const session = member.session

    if (session?.open === true) {
      const seq = ++member.heartbeatSeq
      member.liveness.sent(seq, now)
      session.post({ heartbeat: { seq, ...member.liveness.acknowledgement(now), ...this.target.messaging.heartbeatFields(session) } })
    }
  }

  private check (): void {
    const now = Date.now()
    const period = this.interval / CHECKS_PER_INTERVAL
    const stall = now - this.lastCheck - period
    const beat = now - this.lastBeat >= this.interval - period / 2
    this.lastCheck = now

    if (beat) {
      this.lastBeat = now
    }

    if (beat) {
      this.target.messaging.tick(now)
    }

    for (const member of this.target.all()) {
      if (stall > this.interval && member.liveness.lastHeard != null) {
        // our own event loop stalled: that was not the member's silence
        member.liveness.lastHeard += stall
      }

      if (beat && this.target.expire(member, now)) {
        continue
      }

      if (beat) {
        this.beat(member, now)
        this.target.dialer.sweep(member, now)
      }

      if (member.joined && !member.silent && member.liveness.overdue(now)) {
        // silent on its stream, or its stream ended and no new one came
        this.target.unreachable(member)
      } else if (beat && (Math.abs(member.liveness.score(member.state, now) - member.reportedScore) >= 5 || member.route !== member.reportedRoute)) {
        this.target.updated(member)
      }
    }

    if (beat) {
      this.target.pruneRecords(now)
    }

    this.timer = setTimeout(this.check, period)
  }
}
