import { InvalidMessageError } from '@libp2p/interface'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { InvalidSignatureError, MessageTooLargeError } from './errors.ts'
import type { AbortOptions, PeerId, Record } from '@libp2p/interface'

/**
 * A payload to sign into an envelope of one of our domains.
 */
export class Payload implements Record {
  readonly domain: string
  readonly codec: Uint8Array
  private readonly bytes: Uint8Array

  constructor (domain: string, codec: Uint8Array, bytes: Uint8Array) {
    this.domain = domain
    this.codec = codec
    this.bytes = bytes
  }

  marshal (): Uint8Array {
    return this.bytes
  }

  equals (other: Record): boolean {
    return uint8ArrayEquals(this.marshal(), other.marshal())
  }
}

/**
 * An envelope opened and its signature checked.
 */
export interface OpenedEnvelope {
  envelope: RecordEnvelope
  signer: PeerId
}

/**
 * Opens a signed envelope of `domain` holding a `codec` payload.
 *
 * @throws {MessageTooLargeError | InvalidSignatureError | InvalidMessageError}
 */
export async function openEnvelope (bytes: Uint8Array, domain: string, codec: Uint8Array, maxSize: number, what: string, options?: AbortOptions): Promise<OpenedEnvelope> {
  if (bytes.byteLength > maxSize) {
    throw new MessageTooLargeError(`${what} of ${bytes.byteLength} bytes is larger than ${maxSize}`)
  }

  let envelope: RecordEnvelope
  try {
    envelope = await RecordEnvelope.openAndCertify(bytes, domain, options)
  } catch (err: any) {
    if (options?.signal?.aborted === true) {
      throw err
    }

    if (err.name === 'InvalidSignatureError') {
      throw new InvalidSignatureError(`${what} signature does not verify`)
    }

    throw new InvalidMessageError(`not a signed envelope: ${err.message}`)
  }

  if (!uint8ArrayEquals(envelope.payloadType, codec)) {
    throw new InvalidMessageError(`envelope does not hold a ${what}`)
  }

  return { envelope, signer: peerIdFromPublicKey(envelope.publicKey) }
}
