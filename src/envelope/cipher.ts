import { InvalidMessageError } from '@libp2p/interface'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'

const NONCE_LENGTH = 24
const TAG_LENGTH = 16

/** bytes `RoomCipher.seal` adds: the nonce and the tag */
export const ROOM_CIPHER_OVERHEAD = NONCE_LENGTH + TAG_LENGTH

/** what sealed data is: associated with it, so one kind is never taken for another */
export type RoomCipherPurpose = 'message' | 'note'

const PURPOSES: Record<RoomCipherPurpose, number> = { message: 1, note: 2 }

/**
 * What a private room's messages and notes carry is encrypted with the
 * room's key (derived from its secret, see `RoomSecret`):
 * XChaCha20-Poly1305, a random 24-byte nonce before each ciphertext (random
 * nonces that long never repeat in practice, however long the room lives),
 * the purpose and the room's id as associated data. Synchronous
 * (`@noble/ciphers`), so messages are decrypted as they are read and
 * delivered in order.
 */
export class RoomCipher {
  private readonly key: Uint8Array
  private readonly associated: Record<RoomCipherPurpose, Uint8Array>

  constructor (key: Uint8Array, room: Uint8Array) {
    this.key = key
    this.associated = { message: associate('message', room), note: associate('note', room) }
  }

  seal (data: Uint8Array, purpose: RoomCipherPurpose): Uint8Array<ArrayBuffer> {
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_LENGTH))
    const sealed = new Uint8Array(NONCE_LENGTH + data.byteLength + TAG_LENGTH)
    sealed.set(nonce)
    sealed.set(xchacha20poly1305(this.key, nonce, this.associated[purpose]).encrypt(data), NONCE_LENGTH)
    return sealed
  }

  /**
   * @throws {InvalidMessageError} bytes that do not decrypt with the room's key (for this purpose)
   */
  open (sealed: Uint8Array, purpose: RoomCipherPurpose): Uint8Array {
    if (sealed.byteLength < ROOM_CIPHER_OVERHEAD) {
      throw new InvalidMessageError('encrypted data shorter than its nonce and tag')
    }

    try {
      return xchacha20poly1305(this.key, sealed.subarray(0, NONCE_LENGTH), this.associated[purpose]).decrypt(sealed.subarray(NONCE_LENGTH))
    } catch {
      throw new InvalidMessageError(`${purpose} data that does not decrypt with the room's key`)
    }
  }
}

function associate (purpose: RoomCipherPurpose, room: Uint8Array): Uint8Array {
  const associated = new Uint8Array(1 + room.byteLength)
  associated[0] = PURPOSES[purpose]
  associated.set(room, 1)
  return associated
}
