import type { Member } from '../member.ts'
import type { RoomImpl } from '../room.ts'

/**
 * A room message on a member's stream, checked (cheap checks first, then
 * signature, sender is the signer, room, roster) before it is taken.
 *
 * @throws {Error} a refusal (forged, malformed, cross-room, non-roster or
 * equivocating message), so the stream is reset
 */
export async function handleMessage (room: RoomImpl, member: Member, bytes: Uint8Array, forwardTo: Uint8Array[], missed: boolean): Promise<void> {
  await room.messaging.receiveLive(member, bytes, forwardTo, missed)
}
