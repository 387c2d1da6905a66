import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromPublicKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import { DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_RECORD_AGE, DEFAULT_MAX_RECORD_SIZE, MAX_RECORD_ADDRESSES, MAX_ROOM_NAME_LENGTH, MEMBER_RECORD_CODEC, MEMBER_RECORD_DOMAIN } from './constants.ts'
import { StaleRecordError, WrongRoomError, WrongSignerError } from './errors.ts'
import { openEnvelope, Payload } from './open.ts'
import { MemberRecord as MemberRecordMessage } from './pb/member-record.ts'
import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * A member's signed statement about itself in a room: where it can be
 * reached, or that it is leaving.
 */
export interface MemberRecord {
  /** the member, which is also the signer */
  peerId: PeerId
  room: string
  /** grows with every record the member signs for the room */
  seq: bigint
  /** when it was signed, ms since the epoch */
  timestamp: number
  multiaddrs: Multiaddr[]
  leaving: boolean
  /** the signed envelope, as sent on the wire */
  envelope: Uint8Array<ArrayBuffer>
}

/**
 * What to sign into a member record.
 */
export interface MemberRecordInit {
  room: string
  seq: bigint
  multiaddrs?: Multiaddr[]
  leaving?: boolean
  /** @default Date.now() */
  timestamp?: number
}

/**
 * How a received record is checked.
 */
export interface OpenMemberRecordOptions extends AbortOptions {
  /** the room the record must be about; when omitted the caller checks `room` */
  room?: string
  /** when set, the signer must be this peer (the sender of a hello or leave) */
  signer?: PeerId
  /** @default DEFAULT_MAX_RECORD_AGE */
  maxAge?: number
  /** @default DEFAULT_MAX_CLOCK_SKEW */
  maxClockSkew?: number
  /** @default DEFAULT_MAX_RECORD_SIZE */
  maxSize?: number
  /** @default Date.now() */
  now?: number
}

/**
 * Throws unless `name` can name a room: a string of 1 to 256 UTF-8 bytes.
 */
export function checkRoomName (name: string): void {
  if (typeof name !== 'string' || name.length === 0 || new TextEncoder().encode(name).byteLength > MAX_ROOM_NAME_LENGTH) {
    throw new InvalidParametersError(`a room name must be a string of 1 to ${MAX_ROOM_NAME_LENGTH} bytes`)
  }
}

/**
 * The first sequence number a member uses in a room: the time in
 * microseconds, so a member that restarts without its old state still signs
 * numbers larger than any it signed before.
 */
export function initialSeq (now: number = Date.now()): bigint {
  return BigInt(now) * 1000n
}

/**
 * Signs a member record with the member's key.
 */
export async function sealMemberRecord (init: MemberRecordInit, privateKey: PrivateKey, options?: AbortOptions): Promise<MemberRecord> {
  const peerId = peerIdFromPublicKey(privateKey.publicKey)
  // a node may listen on more; the first ones are its preferred
  const multiaddrs = (init.multiaddrs ?? []).slice(0, MAX_RECORD_ADDRESSES)
  const timestamp = init.timestamp ?? Date.now()

  checkRoomName(init.room)

  if (init.seq < 0n || init.seq >= 2n ** 64n) {
    throw new InvalidParametersError('seq must fit an unsigned 64-bit integer')
  }

  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new InvalidParametersError('timestamp must be ms since the epoch')
  }
  const payload = MemberRecordMessage.encode({
    room: init.room,
    peerId: peerId.toMultihash().bytes,
    seq: init.seq,
    timestamp: BigInt(timestamp),
    multiaddrs: multiaddrs.map(ma => ma.bytes),
    leaving: init.leaving === true
  })
  const envelope = await RecordEnvelope.seal(new Payload(MEMBER_RECORD_DOMAIN, MEMBER_RECORD_CODEC, payload), privateKey, options)
  const marshaled = envelope.marshal() as Uint8Array<ArrayBuffer>

  if (marshaled.byteLength > DEFAULT_MAX_RECORD_SIZE) {
    throw new InvalidParametersError(`the record is ${marshaled.byteLength} bytes, more than the ${DEFAULT_MAX_RECORD_SIZE} receivers accept`)
  }

  return {
    peerId,
    room: init.room,
    seq: init.seq,
    timestamp,
    multiaddrs,
    leaving: init.leaving === true,
    envelope: marshaled
  }
}

/**
 * Opens a signed member record received from the network and checks it: the
 * signature, that the signer is the member the record names (and `signer`
 * when given), the room and the timestamp. Sequence numbers are checked by a
 * `SequenceTracker`, which knows what was accepted before.
 *
 * @throws {MessageTooLargeError | InvalidMessageError | InvalidSignatureError | WrongSignerError | WrongRoomError | StaleRecordError}
 * when the record is refused
 */
export async function openMemberRecord (bytes: Uint8Array, options: OpenMemberRecordOptions): Promise<MemberRecord> {
  const { envelope, signer } = await openEnvelope(bytes, MEMBER_RECORD_DOMAIN, MEMBER_RECORD_CODEC, options.maxSize ?? DEFAULT_MAX_RECORD_SIZE, 'member record', options)

  let message: MemberRecordMessage
  let peerId: PeerId
  let multiaddrs: Multiaddr[]
  try {
    message = MemberRecordMessage.decode(envelope.payload, {
      limits: { multiaddrs: MAX_RECORD_ADDRESSES }
    })
    peerId = peerIdFromMultihash(Digest.decode(message.peerId))
    multiaddrs = message.multiaddrs.map(bytes => multiaddr(bytes))
  } catch (err: any) {
    throw new InvalidMessageError(`malformed member record: ${err.message}`)
  }

  if (!signer.equals(peerId)) {
    throw new WrongSignerError(`record of ${peerId} signed by ${signer}`)
  }

  if (options.signer != null && !signer.equals(options.signer)) {
    throw new WrongSignerError(`record of ${signer} sent by ${options.signer}, which must send its own`)
  }

  if (new TextEncoder().encode(message.room).byteLength > MAX_ROOM_NAME_LENGTH) {
    throw new InvalidMessageError('room name too long')
  }

  if (options.room != null && message.room !== options.room) {
    throw new WrongRoomError(`record is about another room than "${options.room}"`)
  }

  const now = options.now ?? Date.now()
  const timestamp = Number(message.timestamp)

  if (timestamp < now - (options.maxAge ?? DEFAULT_MAX_RECORD_AGE)) {
    throw new StaleRecordError(`record signed ${now - timestamp} ms ago`)
  }

  if (timestamp > now + (options.maxClockSkew ?? DEFAULT_MAX_CLOCK_SKEW)) {
    throw new StaleRecordError(`record dated ${timestamp - now} ms in the future`)
  }

  return {
    peerId,
    room: message.room,
    seq: message.seq,
    timestamp,
    multiaddrs,
    leaving: message.leaving,
    // re-encoded from the signed fields, so extra bytes a forwarder added do
    // not make the same record look like a different one
    envelope: new RecordEnvelope(envelope).marshal() as Uint8Array<ArrayBuffer>
  }
}
