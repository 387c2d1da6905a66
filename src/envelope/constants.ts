const second = 1000
const minute = 60 * second

/**
 * The signature domain of relaymesh member records: a signature made for
 * another libp2p record type never verifies as one of ours.
 */
export const MEMBER_RECORD_DOMAIN = 'relaymesh-member-record'

/**
 * The envelope payload type of a member record.
 */
export const MEMBER_RECORD_CODEC = new TextEncoder().encode('/relaymesh/member-record/1')

/**
 * Records signed longer ago than this are stale. Members re-sign theirs well
 * within it.
 */
export const DEFAULT_MAX_RECORD_AGE = 10 * minute

/**
 * Records dated further in the future than this are stale.
 */
export const DEFAULT_MAX_CLOCK_SKEW = 30 * second

/**
 * Largest signed envelope accepted, in bytes.
 */
export const DEFAULT_MAX_RECORD_SIZE = 8 * 1024

/**
 * Most addresses a record may carry.
 */
export const MAX_RECORD_ADDRESSES = 32

/**
 * Longest room name, in UTF-8 bytes.
 */
export const MAX_ROOM_NAME_LENGTH = 256

/**
 * The signature domain and payload type of room message batches.
 */
export const ROOM_BATCH_DOMAIN = 'relaymesh-room-batch'
export const ROOM_BATCH_CODEC = new TextEncoder().encode('/relaymesh/room-batch/1')

/**
 * The signature domain and payload type of replay requests.
 */
export const REPLAY_REQUEST_DOMAIN = 'relaymesh-replay-request'
export const REPLAY_REQUEST_CODEC = new TextEncoder().encode('/relaymesh/replay-request/2')

/**
 * Replay requests signed longer ago than this are refused: a request cannot
 * be captured and sent again later.
 */
export const DEFAULT_MAX_REQUEST_AGE = minute

/**
 * Bytes of a replay request's nonce.
 */
export const REPLAY_NONCE_LENGTH = 16

/**
 * The signature domain and payload type of room notes (presence, ephemeral
 * and direct messages, requests, responses, receipts).
 */
export const ROOM_NOTE_DOMAIN = 'relaymesh-room-note'
export const ROOM_NOTE_CODEC = new TextEncoder().encode('/relaymesh/room-note/1')

/**
 * Bytes of a room note's id.
 */
export const ROOM_NOTE_ID_LENGTH = 16
