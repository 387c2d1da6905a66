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

  // checking a record's signature costs CPU: a member passes on at most
  // what a room can hold per minute (its gossip on a new stream is that)
  if (++member.recordsInWindow > room.ctx.init.maxMembers + MAX_PENDING_MEMBERS) {
    if (member.recordsInWindow === room.ctx.init.maxMembers + MAX_PENDING_MEMBERS + 1) {
      room.log('%p passed on more than %d records this minute: dropping the rest', member.peerId, room.ctx.init.maxMembers + MAX_PENDING_MEMBERS)
      room.reportIfRejected(member.peerId, new RecordQuotaError(`more than ${room.ctx.init.maxMembers + MAX_PENDING_MEMBERS} records in a minute`))
    }

    return
  }

  try {
    const record = await openMemberRecord(bytes, { room: room.name, maxAge: room.ctx.init.maxRecordAge })
    room.acceptRecord(record, session)
  } catch (err: any) {
    if (!TOLERATED.has(err.name)) {
      throw err
    }

    room.reportIfRejected(member.peerId, err)
  }
}
