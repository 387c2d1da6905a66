import { InvalidParametersError } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { RoomCipher } from '../envelope/cipher.ts'
import { checkRoomName } from '../envelope/record.ts'
import { WrongSecretError } from './errors.ts'
import { idOf } from './room-cid.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * PBKDF2-SHA256 rounds from a private room's secret to its keys (OWASP's
 * figure for PBKDF2-HMAC-SHA256; about 0.1 s per join): each guess at a
 * short secret costs as much. The chat page's secrets are 128 random bits,
 * out of reach of guessing.
 */
export const ROOM_SECRET_ITERATIONS = 600_000

/** which side of a room stream a proof is from: the one that opened it, or the other */
export type RoomAuthRole = 'opener' | 'answerer'

const encoder = new TextEncoder()

/**
 * What a private room's secret gives (see `JoinOptions.secret`): every value
 * below comes from PBKDF2 over the secret, salted with the room's name, then
 * HKDF-SHA256 with a label per use, so none says anything about another or
 * about the secret.
 *
 * - `cid`: the CID members provide in the DHT (in place of the name's)
 * - `id`: what messages and notes are signed for (with the roster, if any)
 * - `tag`: how records and replay requests name the room (`private/<cid>`)
 * - `cipher`: XChaCha20-Poly1305 for what messages and notes carry
 * - `prove()`/`check()`: the proof each side of a room stream gives before either sends anything else
 */
export class RoomSecret {
  readonly cid: CID
  readonly id: Uint8Array
  readonly tag: string
  readonly cipher: RoomCipher
  private readonly authKey: CryptoKey

  private constructor (cid: CID, id: Uint8Array, cipher: RoomCipher, authKey: CryptoKey) {
    this.cid = cid
    this.id = id
    this.tag = `private/${cid.toString()}`
    this.cipher = cipher
    this.authKey = authKey
  }

  /**
   * @throws {InvalidParametersError} an empty secret or a bad name
   */
  static async derive (name: string, secret: string | Uint8Array, roster?: Array<{ toString(): string }>): Promise<RoomSecret> {
    checkRoomName(name)
    const bytes = typeof secret === 'string' ? encoder.encode(secret) : secret

    if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) {
      throw new InvalidParametersError('a room secret is a non-empty string or Uint8Array')
    }

    const subtle = globalThis.crypto.subtle
    const password = await subtle.importKey('raw', bytes as Uint8Array<ArrayBuffer>, 'PBKDF2', false, ['deriveBits'])
    const master = await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: encoder.encode(`relaymesh/private-room/v1\n${name}`), iterations: ROOM_SECRET_ITERATIONS }, password, 256)
    const hkdf = await subtle.importKey('raw', master, 'HKDF', false, ['deriveBits'])
    const expand = async (label: string): Promise<Uint8Array<ArrayBuffer>> => new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: encoder.encode(`relaymesh/private-room/v1/${label}`) }, hkdf, 256))

    const cid = CID.createV1(raw.code, Digest.create(sha256.code, await expand('cid')))
    // a domain of its own: no open room's id (see `roomId`, whose text starts
    // `relaymesh/room-id/v1`, a name may hold any character) is ever this
    const id = await idOf('relaymesh/private-room-id/v1', cid.toString(), roster)
    const authKey = await subtle.importKey('raw', await expand('auth'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])

    return new RoomSecret(cid, id, new RoomCipher(await expand('encrypt'), id), authKey)
  }

  /** our proof, as `role`, on a stream `opener` opened to `answerer` */
  async prove (role: RoomAuthRole, opener: PeerId, answerer: PeerId): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', this.authKey, proofInput(this.cid, role, opener, answerer)))
  }

  /**
   * Checks the other side's proof.
   *
   * @throws {WrongSecretError} it was not made with this room's secret, or not for this pair and role
   */
  async check (proof: Uint8Array | undefined, role: RoomAuthRole, opener: PeerId, answerer: PeerId): Promise<void> {
    if (proof == null || !await globalThis.crypto.subtle.verify('HMAC', this.authKey, proof as Uint8Array<ArrayBuffer>, proofInput(this.cid, role, opener, answerer))) {
      throw new WrongSecretError(`${role === 'opener' ? opener : answerer} gave no proof of room ${this.cid}'s secret`)
    }
  }
}

/** the room, the role and both peer ids, each length-prefixed (a varint, as `signaturePayload` does) */
function proofInput (cid: CID, role: RoomAuthRole, opener: PeerId, answerer: PeerId): Uint8Array<ArrayBuffer> {
  const parts = [encoder.encode('relaymesh/room-auth/v1'), cid.bytes, encoder.encode(role), opener.toMultihash().bytes, answerer.toMultihash().bytes]
  return new Uint8ArrayList(...parts.flatMap(part => [varint.encode(part.byteLength), part])).subarray() as Uint8Array<ArrayBuffer>
}
