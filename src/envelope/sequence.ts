import { PeerMap } from '@libp2p/peer-collections'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { ReplayedRecordError } from './errors.ts'
import type { MemberRecord } from './record.ts'

const ENVELOPE_KEY_LENGTH = 32

/**
 * Remembers the newest record accepted from each signer in one room, so
 * replayed and out-of-date records are refused.
 */
export class SequenceTracker {
  private readonly latest = new PeerMap<MemberRecord>()
  /** the accepted envelopes by their last bytes (the signature) */
  private readonly envelopes = new Map<string, Uint8Array>()

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
    const previous = this.latest.get(record.peerId)

    if (previous != null) {
      this.envelopes.delete(envelopeKey(previous.envelope))
    }

    this.latest.set(record.peerId, record)
    this.envelopes.set(envelopeKey(record.envelope), record.envelope)
  }

  /**
   * Whether `envelope` is, byte for byte, a record already accepted. Such a
   * copy (the same record forwarded by another member) is not news and needs
   * no signature check: in a room of N members each record arrives up to
   * N - 1 times.
   */
  isAccepted (envelope: Uint8Array): boolean {
    const known = this.envelopes.get(envelopeKey(envelope))
    return known != null && uint8ArrayEquals(known, envelope)
  }

  get (peerId: MemberRecord['peerId']): MemberRecord | undefined {
    return this.latest.get(peerId)
  }

  /**
   * Forgets the records signed before `signedBefore` (ms since the epoch)
   * whose signers `keep` does not want kept: such records are refused as
   * stale on arrival anyway, so forgetting one cannot let it be taken again
   */
  prune (signedBefore: number, keep: (peerId: MemberRecord['peerId']) => boolean): void {
    for (const [peerId, record] of this.latest.entries()) {
      if (record.timestamp < signedBefore && !keep(peerId)) {
        this.latest.delete(peerId)
        this.envelopes.delete(envelopeKey(record.envelope))
      }
    }
  }

  /** forgets the record of `peerId` */
  forget (peerId: MemberRecord['peerId']): void {
    const record = this.latest.get(peerId)

    if (record != null) {
      this.latest.delete(peerId)
      this.envelopes.delete(envelopeKey(record.envelope))
    }
  }

  values (): MemberRecord[] {
    return [...this.latest.values()]
  }

  clear (): void {
    this.latest.clear()
    this.envelopes.clear()
  }
}

/** a record's signature is its envelope's last field: its last bytes tell records apart */
function envelopeKey (envelope: Uint8Array): string {
  return uint8ArrayToString(envelope.subarray(-ENVELOPE_KEY_LENGTH), 'base64')
}
