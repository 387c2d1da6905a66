import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { InvalidSignatureError } from './errors.ts'
import type { AbortOptions, PeerId, PrivateKey, PublicKey } from '@libp2p/interface'

/**
 * Public keys a node keeps imported for verifying, at most.
 */
export const MAX_CACHED_KEYS = 1024

const ED25519 = { name: 'Ed25519' }

function base64url (bytes: Uint8Array): string {
  return uint8ArrayToString(bytes, 'base64url')
}

/**
 * Signs with a private key imported once into WebCrypto (where it supports
 * Ed25519; `@libp2p/crypto`'s `sign` imports the key again on every call),
 * else with the key's own `sign`.
 */
export class Signer {
  private readonly privateKey: PrivateKey
  private imported?: Promise<CryptoKey | undefined>

  constructor (privateKey: PrivateKey) {
    this.privateKey = privateKey
  }

  async sign (data: Uint8Array, options?: AbortOptions): Promise<Uint8Array> {
    const key = await (this.imported ??= this.import())

    if (key == null) {
      return this.privateKey.sign(data, options)
    }

    return new Uint8Array(await globalThis.crypto.subtle.sign(ED25519, key, data as Uint8Array<ArrayBuffer>))
  }

  private async import (): Promise<CryptoKey | undefined> {
    if (this.privateKey.type !== 'Ed25519') {
      return undefined
    }

    try {
      return await globalThis.crypto.subtle.importKey('jwk', {
        kty: 'OKP',
        crv: 'Ed25519',
        d: base64url(this.privateKey.raw.subarray(0, 32)),
        x: base64url(this.privateKey.publicKey.raw)
      }, ED25519, false, ['sign'])
    } catch {
      return undefined
    }
  }
}

/**
 * Verifies signatures of many peers, each peer's key imported once (kept for
 * the `MAX_CACHED_KEYS` peers verified most recently).
 */
export class Verifier {
  private readonly keys = new Map<string, Promise<CryptoKey | undefined>>()
  private readonly maxKeys: number

  constructor (maxKeys = MAX_CACHED_KEYS) {
    this.maxKeys = maxKeys
  }

  /**
   * @throws {InvalidSignatureError} when `signature` is not `signer`'s over `data`
   */
  async verify (signer: PeerId, data: Uint8Array, signature: Uint8Array, options?: AbortOptions): Promise<void> {
    const publicKey = signer.publicKey

    if (publicKey == null) {
      throw new InvalidSignatureError(`no public key in peer id ${signer}`)
    }

    const key = await this.key(signer.toString(), publicKey)
    const valid = key == null
      ? await publicKey.verify(data, signature, options)
      : await globalThis.crypto.subtle.verify(ED25519, key, signature as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>)

    if (!valid) {
      throw new InvalidSignatureError('signature does not verify')
    }
  }

  private async key (id: string, publicKey: PublicKey): Promise<CryptoKey | undefined> {
    let key = this.keys.get(id)

    if (key != null) {
      // most recently used last
      this.keys.delete(id)
      this.keys.set(id, key)
      return key
    }

    key = publicKey.type !== 'Ed25519'
      ? Promise.resolve(undefined)
      : globalThis.crypto.subtle.importKey('raw', publicKey.raw as Uint8Array<ArrayBuffer>, ED25519, false, ['verify']).catch(() => undefined)
    this.keys.set(id, key)

    if (this.keys.size > this.maxKeys) {
      this.keys.delete(this.keys.keys().next().value!)
    }

    return key
  }
}
