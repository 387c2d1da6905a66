import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import * as Digest from 'multiformats/hashes/digest'
import { DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_REQUEST_AGE, MAX_REQUEST_HEADS, REPLAY_REQUEST_CODEC, REPLAY_REQUEST_DOMAIN, ROOM_MESSAGE_CODEC, ROOM_MESSAGE_DOMAIN } from './constants.ts'
import { StaleRecordError, WrongRoomError, WrongSignerError } from './errors.ts'
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
 * The highest seq held in order of one sender's epoch.
 */
export interface Head {
  sender: PeerId
  epoch: number
  seq: number
}

/**
 * A returning member's signed request for the messages it lacks.
 */
export interface ReplayRequest {
  requester: PeerId
  room: string
  timestamp: number
  heads: Head[]
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
 * Signs a replay request with the requester's key.
 */
export async function sealReplayRequest (init: Omit<ReplayRequest, 'requester' | 'timestamp'> & { timestamp?: number }, privateKey: PrivateKey, options?: AbortOptions): Promise<Uint8Array> {
  const requester = peerIdFromPublicKey(privateKey.publicKey)

  if (init.heads.length > MAX_REQUEST_HEADS) {
    throw new InvalidParametersError(`a replay request lists at most ${MAX_REQUEST_HEADS} heads`)
  }

  const payload = ReplayRequestMessage.encode({
    room: init.room,
    requester: requester.toMultihash().bytes,
    timestamp: BigInt(init.timestamp ?? Date.now()),
    heads: init.heads.map(head => ({ sender: head.sender.toMultihash().bytes, epoch: BigInt(head.epoch), seq: BigInt(head.seq) }))
  })
  const envelope = await RecordEnvelope.seal(new Payload(REPLAY_REQUEST_DOMAIN, REPLAY_REQUEST_CODEC, payload), privateKey, options)
  return envelope.marshal()
}

/**
 * Opens a replay request and checks its signature, that the signer is the
 * requester and `remotePeer` (the peer on the other end of the stream), the
 * room and its freshness.
 *
 * @throws {MessageTooLargeError | InvalidMessageError | InvalidSignatureError | WrongSignerError | WrongRoomError | StaleRecordError}
 */
export async function openReplayRequest (bytes: Uint8Array, remotePeer: PeerId, options: OpenSignedOptions & { now?: number }): Promise<ReplayRequest> {
  const { envelope, signer } = await openEnvelope(bytes, REPLAY_REQUEST_DOMAIN, REPLAY_REQUEST_CODEC, options.maxSize, 'replay request', options)
  let request: ReplayRequestMessage
  let requester: PeerId
  let heads: Head[]

  try {
    request = ReplayRequestMessage.decode(envelope.payload, { limits: { heads: MAX_REQUEST_HEADS } })
    requester = decodePeerId(request.requester)
    heads = request.heads.map(head => ({ sender: decodePeerId(head.sender), epoch: Number(head.epoch), seq: Number(head.seq) }))
  } catch (err: any) {
    throw new InvalidMessageError(`malformed replay request: ${err.message}`)
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

  return { requester, room: request.room, timestamp, heads }
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
