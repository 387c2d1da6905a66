import type { Member } from '../member.ts'
import type { MeshMessage } from '../pb/mesh.ts'
import type { Logger } from '@libp2p/interface'

/**
 * Most queued frames written to a stream at once.
 */
const MAX_FRAMES_PER_WRITE = 64

/**
 * A frame queued to a member: a room message, ours (`ownSeq`) or one passed on.
 */
export interface OutboxEntry {
  frame: Partial<MeshMessage>
  /** the seq of our own message it carries */
  ownSeq?: number
}

/**
 * Room messages waiting to be written to one member's stream, everything
 * queued so far in one write, so a slow member holds up only its own queue. At most `max` wait: what
 * does not fit stays in the log, and the member asks for it when its
 * heartbeats show it lacks a message written after it (see
 * `Session.written`). When the member has no open stream the queue is
 * dropped, for the same reason.
 */
export class Outbox {
  private readonly entries: OutboxEntry[] = []
  private writing = false
  private queuedThrough = 0

  /**
   * The last seq of ours queued to the member across its streams (written,
   * under way, or dropped as the queue was full: it asks for that one); a
   * stream that ends with batches of ours still queued takes it back to
   * before the first of them
   */
  get ownQueuedThrough (): number {
    return this.queuedThrough
  }

  /**
   * Queues `entry` to `member`; returns false when the queue is full. A
   * dropped message of ours counts as written (`Session.written`): the
   * member's next heartbeat from us tells it that it lacks it.
   */
  push (member: Member, entry: OutboxEntry, max: number, log: Logger): boolean {
    if (entry.ownSeq != null) {
      this.queuedThrough = Math.max(this.queuedThrough, entry.ownSeq)
    }

    if (this.entries.length >= max) {
      if (entry.ownSeq != null && member.session != null) {
        member.session.written = Math.max(member.session.written, entry.ownSeq)
      }

      return false
    }

    this.entries.push(entry)

    if (!this.writing) {
      void this.write(member, log)
    }

    return true
  }

  private async write (member: Member, log: Logger): Promise<void> {
    this.writing = true

    try {
      while (this.entries.length > 0) {
        const session = member.session

        if (session == null || !session.open) {
          this.drop([])
          return
        }

        // everything queued so far, in one write
        const entries = this.entries.splice(0, MAX_FRAMES_PER_WRITE)

        try {
          await session.sendMany(entries.map(entry => entry.frame))
        } catch (err: any) {
          if (member.session !== session && member.session?.open === true) {
            // the stream was replaced while we wrote to it: on to the new one
            this.entries.unshift(...entries)
            continue
          }

          log('sending to %p failed - %e', member.peerId, err)
          this.drop(entries)
          return
        }

        for (const entry of entries) {
          if (entry.ownSeq != null) {
            session.written = Math.max(session.written, entry.ownSeq)
          }
        }
      }
    } finally {
      this.writing = false
    }
  }

  /**
   * The member's stream is gone with entries queued (and `unsent`, whose
   * write failed): ours among them go again on its next stream
   */
  private drop (unsent: OutboxEntry[]): void {
    for (const entry of [...unsent, ...this.entries]) {
      if (entry.ownSeq != null) {
        // the batch ending at ownSeq is after ownSeq - 1
        this.queuedThrough = Math.min(this.queuedThrough, entry.ownSeq - 1)
      }
    }

    this.entries.length = 0
  }
}
