import { InvalidMessageError } from '@libp2p/interface'
import { gcm } from '@noble/ciphers/aes.js'

const NONCE_LENGTH = 12
const TAG_LENGTH = 16

/** bytes `RoomCipher.seal` adds: the nonce and the tag */
export const ROOM_CIPHER_OVERHEAD = NONCE_LENGTH + TAG_LENGTH

/**
 * What a private room's messages and notes carry is encrypted with the
 * room's key (derived from its secret, see `RoomSecret`): AES-256-GCM, a
 * random 12-byte nonce before each ciphertext, the room's id as associated
 * data. Synchronous (`@noble/ciphers`), so messages are decrypted as they
 * are read and delivered in order.
 */
export class RoomCipher {
  private readonly key: Uint8Array
  private readonly room: Uint8Array

  constructor (key: Uint8Array, room: Uint8Array) {
    this.key = key
    this.room = room
  }

  seal (data: Uint8Array): Uint8Array<ArrayBuffer> {
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_LENGTH))
    const sealed = new Uint8Array(NONCE_LENGTH + data.byteLength + TAG_LENGTH)
    sealed.set(nonce)
    sealed.set(gcm(this.key, nonce, this.room).encrypt(data), NONCE_LENGTH)
    return sealed
  }

  /**
   * @throws {InvalidMessageError} bytes that do not decrypt with the room's key
   */
  open (sealed: Uint8Array): Uint8Array {
    if (sealed.byteLength < ROOM_CIPHER_OVERHEAD) {
      throw new InvalidMessageError('encrypted data shorter than its nonce and tag')
    }

    try {
      return gcm(this.key, sealed.subarray(0, NONCE_LENGTH), this.room).decrypt(sealed.subarray(NONCE_LENGTH))
    } catch {
      throw new InvalidMessageError('data that does not decrypt with the room\'s key')
    }
  }
}
