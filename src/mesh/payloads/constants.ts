import { ROOM_CIPHER_OVERHEAD } from '../../envelope/cipher.ts'

const second = 1000
const KiB = 1024
const MiB = 1024 * KiB

export const PAYLOAD_PROTOCOL_NAME = 'mesh-payload'
export const PAYLOAD_PROTOCOL_VERSION = '1.0.0'

/**
 * The signature domain and payload type of payload requests.
 */
export const PAYLOAD_REQUEST_DOMAIN = 'relaymesh-payload-request'
export const PAYLOAD_REQUEST_CODEC = new TextEncoder().encode('/relaymesh/payload-request/1')

/**
 * Smallest and largest block of a payload: each block is checked against
 * its hash before it is given to the app, so a fetching member holds at
 * most one block (and what its stream buffers).
 */
export const MIN_PAYLOAD_BLOCK = 256 * KiB
export const MAX_PAYLOAD_BLOCK = 16 * MiB

/**
 * Bytes of a block written in one frame of the payload stream.
 */
export const PAYLOAD_CHUNK = 64 * KiB

/**
 * Bytes a manifest takes besides its hashes (id, size, block size, name,
 * type, tags), at most, and per hash; a private room's also holds a key and
 * is encrypted (`MANIFEST_SEALED_OVERHEAD` more).
 */
export const MANIFEST_OVERHEAD = 512
export const MANIFEST_HASH_SIZE = 34
export const MANIFEST_SEALED_OVERHEAD = 34 + ROOM_CIPHER_OVERHEAD

/** longest file name and media type a manifest carries, in bytes */
export const MAX_PAYLOAD_NAME = 255
export const MAX_PAYLOAD_TYPE = 127

/**
 * Payload requests signed longer ago than this (or further in the future)
 * are refused.
 */
export const PAYLOAD_REQUEST_MAX_AGE = 60 * second

/**
 * Payload streams one member may have open with us at once (fetching, or
 * passed on through us); more are refused.
 */
export const MAX_PAYLOAD_STREAMS_PER_MEMBER = 4

/**
 * Payload streams a room serves or passes on at once, all members together.
 */
export const MAX_PAYLOAD_STREAMS = 32

/**
 * Payloads a member keeps to give to the others, at most (the oldest go
 * first), besides `payloadRetention`.
 */
export const MAX_KEPT_PAYLOADS = 64

/**
 * Times a fetch that breaks is taken up again (where it stopped, from the
 * sender or through another member) before it fails; the wait between
 * doubles from `PAYLOAD_RETRY_INITIAL` up to `PAYLOAD_RETRY_MAX`.
 */
export const PAYLOAD_ATTEMPTS = 8
export const PAYLOAD_RETRY_INITIAL = 250
export const PAYLOAD_RETRY_MAX = 5 * second

/**
 * Longest a fetch waits for the answer, and for each block beyond what
 * `PAYLOAD_MIN_RATE` takes, before it takes the fetch up again through
 * another member (one that stopped answering, or trickles); and longest a
 * member passing a fetch on waits for the sender's next frame.
 */
export const PAYLOAD_STALL_TIMEOUT = 10 * second

/**
 * The slowest a block may arrive, bytes per second, beyond
 * `PAYLOAD_STALL_TIMEOUT`.
 */
export const PAYLOAD_MIN_RATE = 64 * KiB

/**
 * Payload requests one member may make of us (for itself, or passed on by
 * it) per minute; more are refused. A fetch makes one, and one more each
 * time it is taken up again.
 */
export const PAYLOAD_REQUESTS_PER_MINUTE = 120

/**
 * Request nonces remembered per requester (each for as long as its request
 * could be taken): more requests within that time are refused.
 */
export const MAX_PAYLOAD_NONCES_PER_MEMBER = 256

export const DEFAULT_MAX_PAYLOAD_SIZE = 1024 * MiB
export const DEFAULT_PAYLOAD_RETENTION = 10 * 60 * second
