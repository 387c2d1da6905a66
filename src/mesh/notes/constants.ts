const second = 1000

/**
 * Notes (ephemeral and direct messages, requests, responses, receipts)
 * signed longer ago than this are refused, so each is remembered (to be
 * taken once) only this long. Presence has no age: the newest wins.
 */
export const NOTE_MAX_AGE = 30 * second

/**
 * Bytes a signed note adds to its data (signature, room id, sender and
 * recipient, ids, counters, tags), at most.
 */
export const NOTE_OVERHEAD = 320

/**
 * Ephemeral messages a member may send per second; more are refused with a
 * `RateLimitError`. Receivers take twice this many from each sender in a
 * second (their windows do not line up with the sender's) and drop the rest.
 */
export const EPHEMERAL_PER_SECOND = 20

/**
 * Presence updates a member sends per second, at most: faster calls to
 * `setPresence` are coalesced, the newest value sent once the interval has
 * passed. Receivers take twice this many from each sender in a second.
 */
export const PRESENCE_PER_SECOND = 20

/**
 * Direct messages and requests a member may send per second (to all members
 * together); more are refused with a `RateLimitError`. Receivers take twice
 * this many notes for one member (direct messages, requests, responses,
 * receipts, and the copies sent again) from each sender in a second.
 */
export const DIRECT_PER_SECOND = 50

/**
 * Notes one stream may bring per second before their signatures are
 * checked (its member's own and those it passes on); more are dropped.
 */
export const NOTES_PER_STREAM_PER_SECOND = 1000

/**
 * Note ids remembered per sender (each for `NOTE_MAX_AGE`): a sender with
 * this many gets no more taken until the oldest age out. A sender within
 * its own limits (`EPHEMERAL_PER_SECOND` + `DIRECT_PER_SECOND`) has at most
 * 70 × 30 = 2,100.
 */
export const MAX_NOTE_IDS_PER_SENDER = 4096

/**
 * A direct message or request without an answer is sent again after this
 * long, then after twice that, and so on, by whatever route there is then
 * (its stream, or members passing it on).
 */
export const DIRECT_RESEND_INITIAL = 500

/**
 * The longest wait between two sends of a direct message or request. It is
 * also sent again at once when the recipient's stream begins.
 */
export const DIRECT_RESEND_MAX = 2000

/**
 * A direct message or request is sent again only while it is younger than
 * this, so every copy arrives well within `NOTE_MAX_AGE`.
 */
export const DIRECT_RESEND_LIMIT = NOTE_MAX_AGE / 2

/**
 * Requests of one member a member handles at once; more are answered with a
 * failure at once.
 */
export const MAX_REQUESTS_IN_FLIGHT_PER_MEMBER = 8

/**
 * Longest a request handler may take: then the request fails (the
 * requester gets a `RequestFailedError`), the handler's signal aborts, and
 * its slot (see `MAX_REQUESTS_IN_FLIGHT_PER_MEMBER`) is free again.
 */
export const REQUEST_HANDLER_TIMEOUT = NOTE_MAX_AGE

/**
 * Responses kept per member, for `NOTE_MAX_AGE`, to answer a request that
 * arrives again (its response was lost) without handling it twice.
 */
export const MAX_KEPT_RESPONSES_PER_MEMBER = 32

/**
 * Longest reason a failed response carries, in bytes.
 */
export const MAX_FAILURE_REASON = 1024

export const DEFAULT_MAX_PRESENCE_SIZE = 1024
export const DEFAULT_DIRECT_TIMEOUT = 10 * second
