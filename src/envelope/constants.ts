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
