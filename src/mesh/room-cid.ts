import { InvalidParametersError } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { MAX_ROOM_NAME_LENGTH } from '../envelope/constants.ts'

/**
 * The CID a room's members provide in relaymesh's DHT: the sha256 of
 * `relaymesh/room/v1/<name>` as a raw CIDv1.
 */
export async function roomCid (name: string): Promise<CID> {
  if (typeof name !== 'string' || name.length === 0 || new TextEncoder().encode(name).byteLength > MAX_ROOM_NAME_LENGTH) {
    throw new InvalidParametersError(`a room name must be a string of 1 to ${MAX_ROOM_NAME_LENGTH} bytes`)
  }

  const hash = await sha256.digest(new TextEncoder().encode(`relaymesh/room/v1/${name}`))

  return CID.createV1(raw.code, hash)
}
