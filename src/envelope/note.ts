import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { signaturePayload } from './batch.ts'
import { ROOM_NOTE_CODEC, ROOM_NOTE_DOMAIN, ROOM_NOTE_ID_LENGTH } from './constants.ts'
import { MessageTooLargeError, WrongRoomError } from './errors.ts'
import { RoomNote as RoomNoteMessage, SignedRoomNote as SignedRoomNoteMessage } from './pb/room-note.ts'
import type { RoomCipher } from './cipher.ts'
import type { Signer, Verifier } from './keys.ts'
import type { AbortOptions, PeerId } from '@libp2p/interface'

/**
 * What a room note is (see `src/envelope/pb/room-note.proto`).
 */
export type RoomNoteKind = 'ephemeral' | 'presence' | 'direct' | 'request' | 'response' | 'receipt'

const KINDS: Record<RoomNoteKind, RoomNoteMessage.Kind> = {
  ephemeral: RoomNoteMessage.Kind.EPHEMERAL,
  presence: RoomNoteMessage.Kind.PRESENCE,
  direct: RoomNoteMessage.Kind.DIRECT,
  request: RoomNoteMessage.Kind.REQUEST,
  response: RoomNoteMessage.Kind.RESPONSE,
  receipt: RoomNoteMessage.Kind.RECEIPT
}

const NAMES = new Map<RoomNoteMessage.Kind, RoomNoteKind>(Object.entries(KINDS).map(([name, kind]) => [kind, name as RoomNoteKind]))

/** kinds sent to one member */
const ADDRESSED = new Set<RoomNoteKind>(['direct', 'request', 'response', 'receipt'])

/**
 * A signed message of a member that is not logged or replayed: presence, an
 * ephemeral message, a direct message, a request, a response or a receipt.
 */
export interface SignedRoomNote {
  kind: RoomNoteKind
  sender: PeerId
  /** the room's id (see `roomId`) */
  room: Uint8Array
  /** when it was signed, ms since the epoch */
  timestamp: number
  /** `ROOM_NOTE_ID_LENGTH` random bytes */
  id: Uint8Array
  /** the member a direct message, request, response or receipt is for */
  recipient?: PeerId
  /** the note a response or receipt answers */
  replyTo?: Uint8Array
  data: Uint8Array
  /** presence: `data` is JSON text */
  json: boolean
  /** presence: the sender cleared it */
  cleared: boolean
  /** response: the request failed (`data` says why) */
  failed: boolean
  /** direct: `data` is a large payload's manifest (see `src/mesh/payloads`) */
  payload: boolean
  /** as sent on the wire: a `SignedRoomNote` protobuf */
  bytes: Uint8Array<ArrayBuffer>
}

export type RoomNoteInit = Omit<SignedRoomNote, 'bytes' | 'json' | 'cleared' | 'failed' | 'payload'> & Partial<Pick<SignedRoomNote, 'json' | 'cleared' | 'failed' | 'payload'>>

/**
 * A note read but not yet checked against its signature.
 */
export interface UncheckedRoomNote {
  note: SignedRoomNote
  /**
   * @throws {InvalidSignatureError}
   */
  verify(verifier: Verifier, options?: AbortOptions): Promise<void>
}

/**
 * Signs a room note; with `cipher` (a private room) its data is encrypted
 * first, and the signature is over the ciphertext.
 *
 * @throws {InvalidParametersError} an id of the wrong length, a note for one member without a recipient (or one for all with one), a response or receipt without `replyTo`
 */
export async function sealRoomNote (init: RoomNoteInit, signer: Signer, options?: AbortOptions & { cipher?: RoomCipher }): Promise<SignedRoomNote> {
  if (!Number.isSafeInteger(init.timestamp) || init.timestamp < 0 || init.id.byteLength !== ROOM_NOTE_ID_LENGTH) {
    throw new InvalidParametersError(`a note has a timestamp and an id of ${ROOM_NOTE_ID_LENGTH} bytes`)
  }

  checkShape(init, InvalidParametersError)
  const note = RoomNoteMessage.encode({
    room: init.room as Uint8Array<ArrayBuffer>,
    sender: init.sender.toMultihash().bytes,
    kind: KINDS[init.kind],
    timestamp: BigInt(init.timestamp),
    id: init.id as Uint8Array<ArrayBuffer>,
    recipient: init.recipient?.toMultihash().bytes,
    replyTo: init.replyTo as Uint8Array<ArrayBuffer> | undefined,
    data: (options?.cipher == null ? init.data : options.cipher.seal(init.data, 'note')) as Uint8Array<ArrayBuffer>,
    json: init.json ?? false,
    cleared: init.cleared ?? false,
    failed: init.failed ?? false,
    payload: init.payload ?? false
  })
  const signature = await signer.sign(signaturePayload(ROOM_NOTE_DOMAIN, ROOM_NOTE_CODEC, note).subarray(), options)
  const bytes = SignedRoomNoteMessage.encode({ note, signature: signature as Uint8Array<ArrayBuffer> })

  return { json: false, cleared: false, failed: false, payload: false, ...init, bytes }
}

/**
 * Reads a note and checks what needs no signature work: its size and form,
 * and the room. The sender is the signer `verify()` checks. In a private
 * room its data is still encrypted (`RoomCipher.open` it when it is taken).
 *
 * @throws {MessageTooLargeError | InvalidMessageError | WrongRoomError}
 */
export function readRoomNote (bytes: Uint8Array, options: { room: Uint8Array, maxSize: number }): UncheckedRoomNote {
  if (bytes.byteLength > options.maxSize) {
    throw new MessageTooLargeError(`room note of ${bytes.byteLength} bytes is larger than ${options.maxSize}`)
  }

  let signed: SignedRoomNoteMessage
  let message: RoomNoteMessage
  let sender: PeerId
  let recipient: PeerId | undefined

  try {
    signed = SignedRoomNoteMessage.decode(bytes)
    message = RoomNoteMessage.decode(signed.note)
    sender = peerIdFromMultihash(Digest.decode(message.sender))
    recipient = message.recipient == null ? undefined : peerIdFromMultihash(Digest.decode(message.recipient))
  } catch (err: any) {
    throw new InvalidMessageError(`malformed room note: ${err.message}`)
  }

  const kind = NAMES.get(message.kind)
  const timestamp = Number(message.timestamp)

  if (kind == null || !Number.isSafeInteger(timestamp) || message.id.byteLength !== ROOM_NOTE_ID_LENGTH) {
    throw new InvalidMessageError('room note of an unknown kind, or its timestamp or id out of range')
  }

  const note: SignedRoomNote = {
    kind,
    sender,
    room: message.room,
    timestamp,
    id: message.id,
    recipient,
    replyTo: message.replyTo,
    data: message.data,
    json: message.json,
    cleared: message.cleared,
    failed: message.failed,
    payload: message.payload,
    bytes: bytes as Uint8Array<ArrayBuffer>
  }
  checkShape(note, InvalidMessageError)

  if (!uint8ArrayEquals(message.room, options.room)) {
    throw new WrongRoomError('room note is about another room')
  }

  return {
    note,
    verify: async (verifier, verifyOptions) => {
      await verifier.verify(sender, signaturePayload(ROOM_NOTE_DOMAIN, ROOM_NOTE_CODEC, signed.note).subarray(), signed.signature, verifyOptions)
    }
  }
}

function checkShape (note: Pick<SignedRoomNote, 'kind' | 'recipient' | 'replyTo'> & Partial<Pick<SignedRoomNote, 'json' | 'cleared' | 'failed' | 'payload'>>, ErrorType: new (message: string) => Error): void {
  const addressed = ADDRESSED.has(note.kind)
  const answers = note.kind === 'response' || note.kind === 'receipt'

  if (addressed !== (note.recipient != null) || answers !== (note.replyTo?.byteLength === ROOM_NOTE_ID_LENGTH) ||
    (note.kind !== 'presence' && (note.json === true || note.cleared === true)) || (note.kind !== 'response' && note.failed === true) || (note.kind !== 'direct' && note.payload === true)) {
    throw new ErrorType(`a ${note.kind} note with the wrong fields`)
  }
}
