import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { checkRoomName } from '../envelope/record.ts'

/**
 * The CID a room's members provide in relaymesh's DHT: the sha256 of
 * `relaymesh/room/v1/<name>` as a raw CIDv1.
 */
export async function roomCid (name: string): Promise<CID> {
  checkRoomName(name)

  const hash = await sha256.digest(new TextEncoder().encode(`relaymesh/room/v1/${name}`))

  return CID.createV1(raw.code, hash)
}

/**
 * The id a room's message batches are signed for: the sha256 of
 * `relaymesh/room-id/v1`, the name and, for a roster room, the roster's peer
 * ids in sorted order. A batch of one room is refused in any other, also in
 * a roster room of the same name with another roster.
 */
export async function roomId (name: string, roster?: Array<{ toString(): string }>): Promise<Uint8Array> {
  checkRoomName(name)
  return idOf('relaymesh/room-id/v1', name, roster)
}

/**
 * The sha256 of `domain`, `label` and, for a roster room, the roster's peer
 * ids in sorted order, one per line: a room's id (`roomId`, and a private
 * room's with a domain of its own, see `RoomSecret`).
 */
export async function idOf (domain: string, label: string, roster?: Array<{ toString(): string }>): Promise<Uint8Array> {
  const members = roster == null ? [] : roster.map(peer => peer.toString()).sort()
  const hash = await sha256.digest(new TextEncoder().encode([domain, label, roster == null ? 'open' : 'roster', ...members].join('\n')))

  return hash.digest
}
