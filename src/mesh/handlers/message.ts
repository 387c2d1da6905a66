import { openRoomMessage } from '../../envelope/message.ts'
import type { Member } from '../member.ts'
import type { RoomImpl } from '../room.ts'

/**
 * A room message on a member's stream, checked (signature, sender is the
 * signer, room, roster) before it is taken.
 *
 * @throws {Error} a refusal (forged, malformed, cross-room or non-roster
 * message), so the stream is reset
 */
export async function handleMessage (room: RoomImpl, member: Member, bytes: Uint8Array, forwardTo: Uint8Array[]): Promise<void> {
  const message = await openRoomMessage(bytes, { room: room.name, maxSize: room.ctx.init.maxMessageSize })
  await room.messaging.receive(member, message, forwardTo)
}
