import { InvalidMessageError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { signaturePayload } from '../../envelope/batch.ts'
import { DEFAULT_MAX_CLOCK_SKEW } from '../../envelope/constants.ts'
import { StaleRecordError } from '../../envelope/errors.ts'
import { PayloadRequest, SignedPayloadRequest } from '../pb/payload.ts'
import { PAYLOAD_REQUEST_CODEC, PAYLOAD_REQUEST_DOMAIN, PAYLOAD_REQUEST_MAX_AGE } from './constants.ts'
import type { Signer, Verifier } from '../../envelope/keys.ts'
import type { AbortOptions, PeerId } from '@libp2p/interface'

const NONCE_LENGTH = 16

/**
 * A member's request for a payload's blocks, from `fromBlock` on.
 */
export interface PayloadFetch {
  room: Uint8Array
  owner: PeerId
  id: Uint8Array
  fromBlock: number
  requester: PeerId
  timestamp: number
  /** 16 random bytes */
  nonce: Uint8Array
  /** as sent: a `SignedPayloadRequest` protobuf */
  bytes: Uint8Array
}

export async function sealPayloadRequest (init: Omit<PayloadFetch, 'bytes' | 'timestamp' | 'nonce'>, signer: Signer): Promise<PayloadFetch> {
  const timestamp = Date.now()
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_LENGTH))
  const request = PayloadRequest.encode({
    room: init.room as Uint8Array<ArrayBuffer>,
    owner: init.owner.toMultihash().bytes,
    id: init.id as Uint8Array<ArrayBuffer>,
    fromBlock: init.fromBlock,
    requester: init.requester.toMultihash().bytes,
    timestamp: BigInt(timestamp),
    nonce
  })
  const signature = await signer.sign(signaturePayload(PAYLOAD_REQUEST_DOMAIN, PAYLOAD_REQUEST_CODEC, request).subarray())
  return { ...init, timestamp, nonce, bytes: SignedPayloadRequest.encode({ request, signature: signature as Uint8Array<ArrayBuffer> }) }
}

/**
 * Reads a payload request and checks its signature (by its requester) and age.
 *
 * @throws {InvalidMessageError | InvalidSignatureError | StaleRecordError}
 */
export async function openPayloadRequest (bytes: Uint8Array, verifier: Verifier, options?: AbortOptions): Promise<PayloadFetch> {
  let signed: SignedPayloadRequest
  let request: PayloadRequest
  let owner: PeerId
  let requester: PeerId

  try {
    signed = SignedPayloadRequest.decode(bytes)
    request = PayloadRequest.decode(signed.request)
    owner = peerIdFromMultihash(Digest.decode(request.owner))
    requester = peerIdFromMultihash(Digest.decode(request.requester))
  } catch (err: any) {
    throw new InvalidMessageError(`malformed payload request: ${err.message}`)
  }

  const timestamp = Number(request.timestamp)
  const now = Date.now()

  if (request.nonce.byteLength !== NONCE_LENGTH) {
    throw new InvalidMessageError('a payload request without its nonce')
  }

  if (!Number.isSafeInteger(timestamp) || timestamp < now - PAYLOAD_REQUEST_MAX_AGE || timestamp > now + DEFAULT_MAX_CLOCK_SKEW) {
    throw new StaleRecordError(`a payload request signed at ${timestamp}, ${now - timestamp} ms ago`)
  }

  await verifier.verify(requester, signaturePayload(PAYLOAD_REQUEST_DOMAIN, PAYLOAD_REQUEST_CODEC, signed.request).subarray(), signed.signature, options)

  return { room: request.room, owner, id: request.id, fromBlock: request.fromBlock, requester, timestamp, nonce: request.nonce, bytes }
}
