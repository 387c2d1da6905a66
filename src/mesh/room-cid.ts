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
