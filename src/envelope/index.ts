/**
 * @packageDocumentation
 *
 * Signed control messages of relaymesh rooms. A member describes itself in a
 * `MemberRecord` (room, sequence number, timestamp, addresses, leaving) and
 * signs it into a libp2p `RecordEnvelope` with relaymesh's own domain and
 * payload type. Receivers open it with `openMemberRecord`, which checks the
 * signature, that the signer is the member the record names, the room and the
 * timestamp, and keep a `SequenceTracker` per room so replayed or outdated
 * records are refused. Room messages are signed in batches
 * (`sealRoomBatch`, `readRoomBatch`): one signature over a sender's messages
 * sealed together, bound to the room's id, checked once per batch with keys
 * imported once per peer (`Signer`, `Verifier`); replay requests
 * (`sealReplayRequest`, `openReplayRequest`) are signed envelopes of their
 * own domain. Every refusal is a typed error.
 *
 * @example
 *
 * ```TypeScript
 * import { generateKeyPair } from '@libp2p/crypto/keys'
 * import { initialSeq, openMemberRecord, sealMemberRecord, SequenceTracker } from 'relaymesh/envelope'
 *
 * const key = await generateKeyPair('Ed25519')
 * const record = await sealMemberRecord({ room: 'lobby', seq: initialSeq() }, key)
 *
 * const opened = await openMemberRecord(record.envelope, { room: 'lobby' })
 * const seen = new SequenceTracker()
 *
 * if (seen.check(opened)) {
 *   seen.accept(opened)
 * }
 * ```
 */

export { initialSeq, openMemberRecord, sealMemberRecord } from './record.ts'
export { openReplayRequest, sealReplayRequest } from './message.ts'
export type { OpenSignedOptions, ReplayRequest } from './message.ts'
export { decodeStoredRoomBatch, readRoomBatch, sealRoomBatch, signaturePayload } from './batch.ts'
export type { SignedRoomBatch, SignedRoomMessage, UncheckedRoomBatch } from './batch.ts'
export { Signer, Verifier } from './keys.ts'
export type { MemberRecord, MemberRecordInit, OpenMemberRecordOptions } from './record.ts'
export { SequenceTracker } from './sequence.ts'
export { InvalidSignatureError, MessageTooLargeError, ReplayedRecordError, StaleRecordError, WrongRoomError, WrongSignerError } from './errors.ts'
export { DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_RECORD_AGE, DEFAULT_MAX_RECORD_SIZE, MEMBER_RECORD_CODEC, MEMBER_RECORD_DOMAIN, ROOM_BATCH_CODEC, ROOM_BATCH_DOMAIN, ROOM_NOTE_CODEC, ROOM_NOTE_DOMAIN, ROOM_NOTE_ID_LENGTH, REPLAY_REQUEST_CODEC, REPLAY_REQUEST_DOMAIN, DEFAULT_MAX_REQUEST_AGE } from './constants.ts'
export { readRoomNote, sealRoomNote } from './note.ts'
export type { RoomNoteInit, RoomNoteKind, SignedRoomNote, UncheckedRoomNote } from './note.ts'
