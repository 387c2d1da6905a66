import { InvalidMessageError } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import * as Digest from 'multiformats/hashes/digest'
import { DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_REQUEST_AGE, REPLAY_NONCE_LENGTH, REPLAY_REQUEST_CODEC, REPLAY_REQUEST_DOMAIN } from './constants.ts'
import { StaleRecordError, WrongRoomError, WrongSignerError } from './errors.ts'
import { openEnvelope, Payload } from './open.ts'
import { ReplayRequest as ReplayRequestMessage } from './pb/room-message.ts'
import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'

/**
 * A member's signed request to replay what it lacks: it opens a replay
 * stream, and a responder answers each nonce once.
 */
export interface ReplayRequest {
  requester: PeerId
  room: string
  timestamp: number
  /** random bytes that make the request single-use */
  nonce: Uint8Array
}

/**
 * How a received room message or replay request is checked.
 */
export interface OpenSignedOptions extends AbortOptions {
  /** the room it must be about; when omitted the caller checks `room` */
  room?: string
  /** largest envelope accepted, in bytes */
  maxSize: number
}

function decodePeerId (bytes: Uint8Array): PeerId {
  return peerIdFromMultihash(Digest.decode(bytes))
}

/**
 * Signs a replay request with the requester's key, with a fresh nonce unless
 * one is given.
 */
export async function sealReplayRequest (init: { room: string, timestamp?: number, nonce?: Uint8Array<ArrayBuffer> }, privateKey: PrivateKey, options?: AbortOptions): Promise<Uint8Array> {
  const requester = peerIdFromPublicKey(privateKey.publicKey)
  const payload = ReplayRequestMessage.encode({
    room: init.room,
    requester: requester.toMultihash().bytes,
    timestamp: BigInt(init.timestamp ?? Date.now()),
    nonce: init.nonce ?? globalThis.crypto.getRandomValues(new Uint8Array(REPLAY_NONCE_LENGTH))
  })
  const envelope = await RecordEnvelope.seal(new Payload(REPLAY_REQUEST_DOMAIN, REPLAY_REQUEST_CODEC, payload), privateKey, options)
  return envelope.marshal()
}

/**
 * Opens a replay request and checks its signature, that the signer is the
 * requester and `remotePeer` (the peer on the other end of the stream), the
 * room and its freshness. Whether its nonce is new is for the responder to
 * check.
 *
 * @throws {MessageTooLargeError | InvalidMessageError | InvalidSignatureError | WrongSignerError | WrongRoomError | StaleRecordError}
 */
export async function openReplayRequest (bytes: Uint8Array, remotePeer: PeerId, options: OpenSignedOptions & { now?: number }): Promise<ReplayRequest> {
  const { envelope, signer } = await openEnvelope(bytes, REPLAY_REQUEST_DOMAIN, REPLAY_REQUEST_CODEC, options.maxSize, 'replay request', options)
  let request: ReplayRequestMessage
  let requester: PeerId

  try {
    request = ReplayRequestMessage.decode(envelope.payload)
    requester = decodePeerId(request.requester)
  } catch (err: any) {
    throw new InvalidMessageError(`malformed replay request: ${err.message}`)
  }

  if (request.nonce.byteLength !== REPLAY_NONCE_LENGTH) {
    throw new InvalidMessageError(`a replay request's nonce is ${REPLAY_NONCE_LENGTH} bytes`)
  }

  if (!signer.equals(requester)) {
    throw new WrongSignerError(`replay request of ${requester} signed by ${signer}`)
  }

  if (!signer.equals(remotePeer)) {
    throw new WrongSignerError(`replay request of ${signer} sent by ${remotePeer}, which must send its own`)
  }

  if (options.room != null && request.room !== options.room) {
    throw new WrongRoomError(`replay request is about another room than "${options.room}"`)
  }

  const now = options.now ?? Date.now()
  const timestamp = Number(request.timestamp)

  if (timestamp < now - DEFAULT_MAX_REQUEST_AGE || timestamp > now + DEFAULT_MAX_CLOCK_SKEW) {
    throw new StaleRecordError(`replay request signed ${now - timestamp} ms ago`)
  }

  return { requester, room: request.room, timestamp, nonce: request.nonce }
}
