import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { ROOM_BATCH_CODEC, ROOM_BATCH_DOMAIN } from './constants.ts'
import { MessageTooLargeError, WrongRoomError } from './errors.ts'
import { RoomBatch as RoomBatchMessage, SignedRoomBatch as SignedRoomBatchMessage } from './pb/room-message.ts'
import type { RoomCipher } from './cipher.ts'
import type { Signer, Verifier } from './keys.ts'
import type { AbortOptions, PeerId } from '@libp2p/interface'

/**
 * One message a member sent to its room. It is checked through the batch it
 * was signed in.
 */
export interface SignedRoomMessage {
  sender: PeerId
  /** when the sender's numbering started, ms since the epoch */
  epoch: number
  /** 1, 2, 3... per sender and epoch */
  seq: number
  /** when its batch was sealed, ms since the epoch */
  timestamp: number
  /** what the sender sent (decrypted, in a private room) */
  data: Uint8Array
  /** `data` is a large payload's manifest (see `src/mesh/payloads`) */
  payload: boolean
  /** the signed batch it came in */
  batch: SignedRoomBatch
}

/**
 * Room messages of one sender, signed together.
 */
export interface SignedRoomBatch {
  sender: PeerId
  /** the room's id (see `roomId`) */
  room: Uint8Array
  epoch: number
  /** the seq of the first message; the others follow one by one */
  firstSeq: number
  /**
   * On the first batch after the sender restarted from a crash: the seqs
   * from here to `firstSeq - 1` were reserved and may never have been sent
   */
  skippedFrom?: number
  timestamp: number
  /** the batch's messages, in seq order */
  messages: SignedRoomMessage[]
  /** as sent on the wire and stored: a `SignedRoomBatch` protobuf */
  bytes: Uint8Array<ArrayBuffer>
}

/**
 * A batch read but not yet checked against its signature: the cheap checks
 * (is any of it new?) run first, `verify()` only when they pass.
 */
export interface UncheckedRoomBatch {
  batch: SignedRoomBatch
  /**
   * @throws {InvalidSignatureError}
   */
  verify(verifier: Verifier, options?: AbortOptions): Promise<void>
}

/**
 * What libp2p signed envelopes sign: the domain, the payload type and the
 * payload, each length-prefixed, so a signature made for one domain never
 * verifies in another.
 */
export function signaturePayload (domain: string, codec: Uint8Array, payload: Uint8Array): Uint8ArrayList {
  const domainBytes = new TextEncoder().encode(domain)
  return new Uint8ArrayList(
    varint.encode(domainBytes.byteLength), domainBytes,
    varint.encode(codec.byteLength), codec,
    varint.encode(payload.byteLength), payload
  )
}

function checkCounter (n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidParametersError(`${what} must be a non-negative safe integer`)
  }
}

/**
 * Signs messages of one sender as a batch; with `cipher` (a private room)
 * each message's data is encrypted first, and the signature is over the
 * ciphertext.
 */
export async function sealRoomBatch (init: { sender: PeerId, room: Uint8Array, epoch: number, firstSeq: number, skippedFrom?: number, timestamp: number, data: Uint8Array[], payloads?: number[], cipher?: RoomCipher }, signer: Signer, options?: AbortOptions): Promise<SignedRoomBatch> {
  checkCounter(init.epoch, 'epoch')
  checkCounter(init.timestamp, 'timestamp')

  if (!Number.isSafeInteger(init.firstSeq) || init.firstSeq < 1 || init.data.length === 0) {
    throw new InvalidParametersError('a batch holds at least one message, from seq 1 on')
  }

  if (init.skippedFrom != null && (!Number.isSafeInteger(init.skippedFrom) || init.skippedFrom < 1 || init.skippedFrom >= init.firstSeq)) {
    throw new InvalidParametersError('skippedFrom is a seq before firstSeq')
  }

  const batch = RoomBatchMessage.encode({
    room: init.room as Uint8Array<ArrayBuffer>,
    sender: init.sender.toMultihash().bytes,
    epoch: BigInt(init.epoch),
    firstSeq: BigInt(init.firstSeq),
    timestamp: BigInt(init.timestamp),
    data: (init.cipher == null ? init.data : init.data.map(data => init.cipher!.seal(data, 'message'))) as Array<Uint8Array<ArrayBuffer>>,
    skippedFrom: BigInt(init.skippedFrom ?? 0),
    payloads: init.payloads ?? []
  })
  const signature = await signer.sign(signaturePayload(ROOM_BATCH_DOMAIN, ROOM_BATCH_CODEC, batch).subarray(), options)
  const bytes = SignedRoomBatchMessage.encode({ batch, signature: signature as Uint8Array<ArrayBuffer> })

  return withMessages({ sender: init.sender, room: init.room, epoch: init.epoch, firstSeq: init.firstSeq, skippedFrom: init.skippedFrom, timestamp: init.timestamp, bytes }, init.data, init.payloads)
}

/**
 * Reads a batch and checks what needs no signature work: its size and form,
 * and the room. The sender is the signer `verify()` checks. In a private
 * room the messages' data is still encrypted: see `decryptRoomBatch`.
 *
 * @throws {MessageTooLargeError | InvalidMessageError | WrongRoomError}
 */
export function readRoomBatch (bytes: Uint8Array, options: { room: Uint8Array, maxSize: number }): UncheckedRoomBatch {
  if (bytes.byteLength > options.maxSize) {
    throw new MessageTooLargeError(`room message batch of ${bytes.byteLength} bytes is larger than ${options.maxSize}`)
  }

  const { batch, signed } = decode(bytes)

  if (!uint8ArrayEquals(batch.room, options.room)) {
    throw new WrongRoomError('message batch is about another room')
  }

  return {
    batch,
    verify: async (verifier, verifyOptions) => {
      await verifier.verify(batch.sender, signaturePayload(ROOM_BATCH_DOMAIN, ROOM_BATCH_CODEC, signed.batch).subarray(), signed.signature, verifyOptions)
    }
  }
}

/**
 * Checks a batch's signature (one read without it, see `readRoomBatch`, or
 * one from this node's log).
 *
 * @throws {InvalidSignatureError | InvalidMessageError}
 */
export async function verifyRoomBatch (batch: SignedRoomBatch, verifier: Verifier, options?: AbortOptions): Promise<void> {
  const { signed } = decode(batch.bytes)
  await verifier.verify(batch.sender, signaturePayload(ROOM_BATCH_DOMAIN, ROOM_BATCH_CODEC, signed.batch).subarray(), signed.signature, options)
}

/**
 * Decodes a batch from this node's own log without checking its signature
 * (see `verifyRoomBatch`), decrypting its messages with `cipher` in a
 * private room.
 *
 * @throws {InvalidMessageError} when the bytes are not a batch (or do not decrypt)
 */
export function decodeStoredRoomBatch (bytes: Uint8Array, cipher?: RoomCipher): SignedRoomBatch {
  return decryptRoomBatch(decode(bytes).batch, cipher)
}

/**
 * A private room's batch read by `readRoomBatch`: replaces each message's
 * data by its plaintext (nothing to do without `cipher`).
 *
 * @throws {InvalidMessageError} data that does not decrypt with the room's key
 */
export function decryptRoomBatch (batch: SignedRoomBatch, cipher?: RoomCipher): SignedRoomBatch {
  if (cipher != null) {
    for (const message of batch.messages) {
      message.data = cipher.open(message.data, 'message')
    }
  }

  return batch
}

function decode (bytes: Uint8Array): { batch: SignedRoomBatch, signed: SignedRoomBatchMessage } {
  let signed: SignedRoomBatchMessage
  let message: RoomBatchMessage
  let sender: PeerId

  try {
    signed = SignedRoomBatchMessage.decode(bytes)
    message = RoomBatchMessage.decode(signed.batch)
    sender = peerIdFromMultihash(Digest.decode(message.sender))
  } catch (err: any) {
    throw new InvalidMessageError(`malformed room message batch: ${err.message}`)
  }

  const [epoch, firstSeq, timestamp, skipped] = [message.epoch, message.firstSeq, message.timestamp, message.skippedFrom].map(Number)

  if (![epoch, firstSeq, timestamp, skipped].every(Number.isSafeInteger) || firstSeq < 1 || message.data.length === 0 || !Number.isSafeInteger(firstSeq + message.data.length) || skipped >= firstSeq) {
    throw new InvalidMessageError('room message batch epoch, seq, skipped seq or timestamp out of range, or empty')
  }

  if (message.payloads.some(i => i >= message.data.length) || new Set(message.payloads).size !== message.payloads.length) {
    throw new InvalidMessageError('room message batch names payloads it does not hold')
  }

  return {
    batch: withMessages({ sender, room: message.room, epoch, firstSeq, skippedFrom: skipped > 0 ? skipped : undefined, timestamp, bytes: bytes as Uint8Array<ArrayBuffer> }, message.data, message.payloads),
    signed
  }
}

function withMessages (fields: Omit<SignedRoomBatch, 'messages'>, data: Uint8Array[], payloads: number[] = []): SignedRoomBatch {
  const batch: SignedRoomBatch = { ...fields, messages: [] }
  batch.messages = data.map((bytes, i) => ({
    payload: payloads.includes(i),
    sender: fields.sender,
    epoch: fields.epoch,
    seq: fields.firstSeq + i,
    timestamp: fields.timestamp,
    data: bytes,
    batch
  }))
  return batch
}
