import { openMemberRecord } from '../../envelope/record.ts'
import type { Member } from '../member.ts'
import type { RoomImpl } from '../room.ts'
import type { Session } from '../session.ts'

/**
 * Refusals that do not mean the sender misbehaved: an honest member may
 * forward a record that has since been superseded or has aged.
 */
const TOLERATED = new Set(['ReplayedRecordError', 'StaleRecordError'])

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
