import type { Member } from './member.ts'
import type { MeshMessage } from './pb/mesh.ts'
import type { Logger } from '@libp2p/interface'

/**
 * Room messages waiting to be written to one member's stream, one at a time,
 * so a slow member holds up only its own queue. At most `max` wait: what
 * does not fit stays in the log, and the member asks for it when it sees it
 * lags. When the member has no open stream the queue is dropped, for the
 * same reason.
 */
export class Outbox {
  private readonly messages: Array<Partial<MeshMessage>> = []
  private writing = false

  /** queues `message` to `member`; returns false when the queue is full */
  push (member: Member, message: Partial<MeshMessage>, max: number, log: Logger): boolean {
    if (this.messages.length >= max) {
      return false
    }

    this.messages.push(message)

    if (!this.writing) {
      void this.write(member, log)
    }

    return true
  }

  private async write (member: Member, log: Logger): Promise<void> {
    this.writing = true

    try {
      while (this.messages.length > 0) {
        const session = member.session

        if (session == null || !session.open) {
          this.messages.length = 0
          return
        }

        await session.send(this.messages.shift() ?? {})
      }
    } catch (err: any) {
      log('sending to %p failed - %e', member.peerId, err)
      this.messages.length = 0
    } finally {
      this.writing = false
    }
  }
}
