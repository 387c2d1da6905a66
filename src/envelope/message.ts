import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import * as Digest from 'multiformats/hashes/digest'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_REQUEST_AGE, REPLAY_NONCE_LENGTH, REPLAY_REQUEST_CODEC, REPLAY_REQUEST_DOMAIN, ROOM_MESSAGE_CODEC, ROOM_MESSAGE_DOMAIN } from './constants.ts'
import { InvalidSignatureError, MessageTooLargeError, StaleRecordError, WrongRoomError, WrongSignerError } from './errors.ts'
import { openEnvelope, Payload } from './open.ts'
import { ReplayRequest as ReplayRequestMessage, RoomMessage as RoomMessagePayload } from './pb/room-message.ts'
import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'

/**
 * A message a member sent to its room, signed by it.
 */
export interface SignedRoomMessage {
  sender: PeerId
  room: string
  /** when the sender's log started, ms since the epoch */
  epoch: number
  /** 1, 2, 3... per sender and epoch */
  seq: number
  /** when it was sent, ms since the epoch */
  timestamp: number
  data: Uint8Array
  /** the signed envelope, as sent on the wire */
  envelope: Uint8Array<ArrayBuffer>
}

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

function checkCounter (n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidParametersError(`${what} must be a non-negative safe integer`)
  }
}

/**
 * Signs a room message with the sender's key.
 */
export async function sealRoomMessage (init: Omit<SignedRoomMessage, 'sender' | 'envelope'>, privateKey: PrivateKey, options?: AbortOptions): Promise<SignedRoomMessage> {
  const sender = peerIdFromPublicKey(privateKey.publicKey)
  checkCounter(init.epoch, 'epoch')
  checkCounter(init.seq, 'seq')
  checkCounter(init.timestamp, 'timestamp')
  const payload = RoomMessagePayload.encode({
    room: init.room,
    sender: sender.toMultihash().bytes,
    epoch: BigInt(init.epoch),
    seq: BigInt(init.seq),
    timestamp: BigInt(init.timestamp),
    data: init.data as Uint8Array<ArrayBuffer>
  })
  const envelope = await RecordEnvelope.seal(new Payload(ROOM_MESSAGE_DOMAIN, ROOM_MESSAGE_CODEC, payload), privateKey, options)

  return { ...init, sender, envelope: envelope.marshal() as Uint8Array<ArrayBuffer> }
}

/**
 * Opens a room message and checks its signature, that the signer is the
 * sender and the room. Whether it is new is for the receiver's log to say.
 *
 * @throws {MessageTooLargeError | InvalidMessageError | InvalidSignatureError | WrongSignerError | WrongRoomError}
 */
export async function openRoomMessage (bytes: Uint8Array, options: OpenSignedOptions): Promise<SignedRoomMessage> {
  const { envelope, signer } = await openEnvelope(bytes, ROOM_MESSAGE_DOMAIN, ROOM_MESSAGE_CODEC, options.maxSize, 'room message', options)
  const message = decodeRoomMessage(envelope.payload, bytes)

  if (!signer.equals(message.sender)) {
    throw new WrongSignerError(`message of ${message.sender} signed by ${signer}`)
  }

  if (options.room != null && message.room !== options.room) {
    throw new WrongRoomError(`message is about another room than "${options.room}"`)
  }

  return message
}

/**
 * A room message read without its signature checked yet: the cheap checks
 * (is it new?) run first, `verify()` only for what passes them.
 */
export interface UncheckedRoomMessage {
  message: SignedRoomMessage
  /**
   * Checks the signature.
   *
   * @throws {InvalidSignatureError}
   */
  verify(options?: AbortOptions): Promise<void>
}

/**
 * Reads a room message and checks what needs no signature work: its size and
 * form, that its envelope's key is the sender's, and the room.
 *
 * @throws {MessageTooLargeError | InvalidMessageError | WrongSignerError | WrongRoomError}
 */
export function readRoomMessage (bytes: Uint8Array, options: OpenSignedOptions): UncheckedRoomMessage {
  if (bytes.byteLength > options.maxSize) {
    throw new MessageTooLargeError(`room message of ${bytes.byteLength} bytes is larger than ${options.maxSize}`)
  }

  let envelope: RecordEnvelope

  try {
    envelope = RecordEnvelope.createFromProtobuf(bytes)
  } catch (err: any) {
    throw new InvalidMessageError(`not a signed envelope: ${err.message}`)
  }

  if (!uint8ArrayEquals(envelope.payloadType, ROOM_MESSAGE_CODEC)) {
    throw new InvalidMessageError('envelope does not hold a room message')
  }

  const message = decodeRoomMessage(envelope.payload, bytes)

  if (!uint8ArrayEquals(envelope.publicKey.toMultihash().bytes, message.sender.toMultihash().bytes)) {
    throw new WrongSignerError(`message of ${message.sender} signed by another key`)
  }

  if (options.room != null && message.room !== options.room) {
    throw new WrongRoomError(`message is about another room than "${options.room}"`)
  }

  return {
    message,
    verify: async (verifyOptions) => {
      if (!await envelope.validate(ROOM_MESSAGE_DOMAIN, verifyOptions)) {
        throw new InvalidSignatureError('room message signature does not verify')
      }
    }
  }
}

/**
 * Decodes a room message payload, with `envelope` (its signed envelope).
 *
 * @throws {InvalidMessageError} when it is malformed or its numbers are out of range
 */
function decodeRoomMessage (payload: Uint8Array, envelope: Uint8Array): SignedRoomMessage {
  let message: RoomMessagePayload
  let sender: PeerId

  try {
    message = RoomMessagePayload.decode(payload)
    sender = decodePeerId(message.sender)
  } catch (err: any) {
    throw new InvalidMessageError(`malformed room message: ${err.message}`)
  }

  const [epoch, seq, timestamp] = [message.epoch, message.seq, message.timestamp].map(Number)

  if (![epoch, seq, timestamp].every(Number.isSafeInteger) || seq < 1) {
    throw new InvalidMessageError('room message epoch, seq or timestamp out of range')
  }

  return { sender, room: message.room, epoch, seq, timestamp, data: message.data, envelope: envelope as Uint8Array<ArrayBuffer> }
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

/**
 * Decodes a room message from this node's own log without checking its
 * signature again (it was checked when it arrived).
 *
 * @throws {InvalidMessageError} when the bytes are not a room message
 */
export function decodeStoredRoomMessage (bytes: Uint8Array): SignedRoomMessage {
  let envelope: RecordEnvelope

  try {
    envelope = RecordEnvelope.createFromProtobuf(bytes)
  } catch (err: any) {
    throw new InvalidMessageError(`malformed stored room message: ${err.message}`)
  }

  return decodeRoomMessage(envelope.payload, bytes)
}
