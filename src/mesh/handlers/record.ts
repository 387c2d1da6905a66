import { openMemberRecord } from '../../envelope/record.ts'
import { MAX_PENDING_MEMBERS } from '../constants.ts'
import { RecordQuotaError } from '../errors.ts'
import type { Member } from '../member.ts'
import type { RoomImpl } from '../room.ts'
import type { Session } from '../session.ts'

/**
 * Refusals that do not mean the sender misbehaved: an honest member may
 * forward a record that has since been superseded or has aged.
 */
const TOLERATED = new Set(['ReplayedRecordError', 'StaleRecordError'])

/** the span of the per-member record quota, ms */
const RECORD_QUOTA_WINDOW = 60_000

/** the quota is this many times the records a room holds */
const RECORD_QUOTA_ROOMS = 4

/**
 * A signed record from a member's stream: its own or one it passes on.
 *
 * @throws {Error} a refusal that means the sender misbehaved (a forged,
 * malformed, cross-room or non-roster record), so the stream is reset
 */
export async function handleRecord (room: RoomImpl, member: Member, session: Session, bytes: Uint8Array): Promise<void> {
  if (room.seen.isAccepted(bytes)) {
    return
  }

  const now = Date.now()

  if (now - member.recordWindowStart >= RECORD_QUOTA_WINDOW) {
    member.recordWindowStart = now
    member.recordsInWindow = 0
  }

  // checking a record's signature costs CPU: a member passes on at most a
  // few times what a room holds per minute (in a full room a member passes
  // on every record each refresh, and its gossip again on a new stream)
  const quota = RECORD_QUOTA_ROOMS * (room.ctx.init.maxMembers + MAX_PENDING_MEMBERS)

  if (++member.recordsInWindow > quota) {
    if (member.recordsInWindow === quota + 1) {
      room.log('%p passed on more than %d records this minute: dropping the rest', member.peerId, quota)
      room.reportIfRejected(member.peerId, new RecordQuotaError(`more than ${quota} records in a minute`))
    }

    return
  }

  try {
    const record = await openMemberRecord(bytes, { room: room.tag, maxAge: room.ctx.init.maxRecordAge })
    room.acceptRecord(record, session)
  } catch (err: any) {
    if (!TOLERATED.has(err.name)) {
      throw err
    }

    room.reportIfRejected(member.peerId, err)
  }
}
