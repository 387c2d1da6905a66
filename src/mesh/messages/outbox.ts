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
  /**
   * The last seq of ours queued to the member (written, under way, or
   * dropped as the queue was full), across its streams; lowered to
   * `ownWrittenThrough` when a stream ends with entries still queued
   */
  ownQueuedThrough = 0
  private ownWrittenThrough = 0

  /**
   * Queues `entry` to `member`; returns false when the queue is full. A
   * dropped message of ours counts as written (`Session.written`): the
   * member's next heartbeat from us tells it that it lacks it.
   */
  push (member: Member, entry: OutboxEntry, max: number, log: Logger): boolean {
    if (entry.ownSeq != null) {
      this.ownQueuedThrough = Math.max(this.ownQueuedThrough, entry.ownSeq)
    }

    if (this.entries.length >= max) {
      if (entry.ownSeq != null && member.session != null) {
        member.session.written = Math.max(member.session.written, entry.ownSeq)
        this.ownWrittenThrough = Math.max(this.ownWrittenThrough, entry.ownSeq)
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
          this.drop()
          return
        }

        // everything queued so far, in one write
        const entries = this.entries.splice(0, MAX_FRAMES_PER_WRITE)
        await session.sendMany(entries.map(entry => entry.frame))

        for (const entry of entries) {
          if (entry.ownSeq != null) {
            session.written = Math.max(session.written, entry.ownSeq)
            this.ownWrittenThrough = Math.max(this.ownWrittenThrough, entry.ownSeq)
          }
        }
      }
    } catch (err: any) {
      log('sending to %p failed - %e', member.peerId, err)
      this.drop()
    } finally {
      this.writing = false
    }
  }

  /** the member's stream is gone with entries queued: ours among them go again on its next one */
  private drop (): void {
    this.entries.length = 0
    this.ownQueuedThrough = this.ownWrittenThrough
  }
}
