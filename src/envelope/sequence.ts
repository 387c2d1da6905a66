import { PeerMap } from '@libp2p/peer-collections'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { ReplayedRecordError } from './errors.ts'
import type { MemberRecord } from './record.ts'

/**
 * Remembers the newest record accepted from each signer in one room, so
 * replayed and out-of-date records are refused.
 */
export class SequenceTracker {
  private readonly latest = new PeerMap<MemberRecord>()

  /**
   * Whether `record` is news: `true` when its sequence number is higher than
   * any accepted from its signer, `false` when it is the very record already
   * accepted (the same bytes, sent again by another member or on a new
   * stream).
   *
   * @throws {ReplayedRecordError} when the number is lower, or equal with
   * other content
   */
  check (record: MemberRecord): boolean {
    const known = this.latest.get(record.peerId)

    if (known == null || record.seq > known.seq) {
      return true
    }

    if (record.seq === known.seq && uint8ArrayEquals(record.envelope, known.envelope)) {
      return false
    }

    throw new ReplayedRecordError(`record ${record.seq} of ${record.peerId} is not newer than ${known.seq}`)
  }

  /**
   * Records `record` as the newest from its signer. Call after `check`.
   */
  accept (record: MemberRecord): void {
    this.latest.set(record.peerId, record)
  }

  get (peerId: MemberRecord['peerId']): MemberRecord | undefined {
    return this.latest.get(peerId)
  }

  values (): MemberRecord[] {
    return [...this.latest.values()]
  }

  clear (): void {
    this.latest.clear()
  }
}
