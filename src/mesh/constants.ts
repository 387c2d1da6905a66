import { DEFAULT_MAX_RECORD_AGE } from '../envelope/constants.ts'
import { DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MISSED_HEARTBEATS, DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX } from '../health/constants.ts'
import { DEFAULT_DIRECT_TIMEOUT, DEFAULT_MAX_PRESENCE_SIZE } from './notes/constants.ts'
import { DEFAULT_MAX_PAYLOAD_SIZE, DEFAULT_PAYLOAD_RETENTION } from './payloads/constants.ts'
import type { MeshInit } from './index.ts'

const second = 1000
const minute = 60 * second

export const PROTOCOL_PREFIX = '/relaymesh'
export const PROTOCOL_NAME = 'mesh'
export const PROTOCOL_VERSION = '2.0.0'

export const DEFAULT_DIAL_TIMEOUT = 10 * second
export const DEFAULT_UNREACHABLE_TIMEOUT = 10 * second
export const DEFAULT_UPGRADE_ATTEMPTS = 5
export const DEFAULT_DISCOVERY_INTERVAL = 30 * second
export const DEFAULT_RECORD_REFRESH_INTERVAL = minute
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024
export const DEFAULT_MAX_MEMBERS = 256

/**
 * First DHT look-up retry while a room has no member yet; doubles up to the
 * discovery interval.
 */
export const DISCOVERY_RETRY = second

/**
 * After we provided a room, we look up its members at once and again this
 * long after that look-up ended: members that join together provide a
 * moment apart, and the first look-up misses those that provide after it.
 */
export const DISCOVERY_FOLLOW_UP = 500

/**
 * After a pair goes direct, the upgrading member waits this long before it
 * closes the relayed connection, so signaling on it can finish; the sweep
 * that closes unused connections later spares any younger than this.
 */
export const PRUNE_DELAY = second

/**
 * A member that heard of another (in the DHT or through gossip), and is not
 * the one of the pair that dials, waits for the other's WebRTC dial 1.5 ×
 * the median of its own recent WebRTC dials, from queued to open, within
 * these bounds (plus up to a quarter more at random), before it dials WebRTC
 * itself; `FIRST_CONTACT_WAIT_DEFAULT` before its first dial (a room's first
 * dials, all at once, took 2-4 s on a 2-core machine with 20 members).
 */
export const FIRST_CONTACT_WAIT_MIN = 250
export const FIRST_CONTACT_WAIT_MAX = 3 * second
export const FIRST_CONTACT_WAIT_DEFAULT = 3 * second

/**
 * Longest a member that is not the pair's dialer waits for the dialer's
 * WebRTC dial while one is under way (a connection of the dialer's is open:
 * its signaling); see `FIRST_CONTACT_WAIT_MIN`.
 */
export const FIRST_CONTACT_WAIT_LIMIT = 10 * second

/**
 * Longest wait for a leave record to be written to every member.
 */
export const LEAVE_FLUSH_TIMEOUT = second

/**
 * Room streams of one member that ranked below its current one and are read
 * until the member closes them too (see `Links.adopt`): at most this many at
 * once, each for at most `LOWER_STREAM_TIMEOUT`; past either, aborted. An
 * honest member closes its end within a round trip of seeing ours closed.
 */
export const MAX_LOWER_STREAMS = 2
export const LOWER_STREAM_TIMEOUT = 5 * second

/**
 * Most room streams per connection, each way.
 */
export const MAX_STREAMS_PER_CONNECTION = 64

/**
 * WebRTC dials a node runs at once (across its rooms) by default; more wait
 * their turn (`maxParallelWebRTCDials`).
 */
export const MAX_PARALLEL_WEBRTC_DIALS = 8

/**
 * Longest delay between two WebRTC attempts of one upgrade round.
 */
export const UPGRADE_RETRY_MAX = 2 * second

export type ResolvedMeshInit = Required<MeshInit>

export function resolveMeshInit (init: MeshInit): ResolvedMeshInit {
  return {
    protocolPrefix: init.protocolPrefix ?? PROTOCOL_PREFIX,
    heartbeatInterval: init.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL,
    missedHeartbeats: init.missedHeartbeats ?? DEFAULT_MISSED_HEARTBEATS,
    unreachableTimeout: init.unreachableTimeout ?? DEFAULT_UNREACHABLE_TIMEOUT,
    reconnectInitial: init.reconnectInitial ?? DEFAULT_RECONNECT_INITIAL,
    reconnectMax: init.reconnectMax ?? DEFAULT_RECONNECT_MAX,
    dialTimeout: init.dialTimeout ?? DEFAULT_DIAL_TIMEOUT,
    maxParallelWebRTCDials: init.maxParallelWebRTCDials ?? MAX_PARALLEL_WEBRTC_DIALS,
    upgradeAttempts: init.upgradeAttempts ?? DEFAULT_UPGRADE_ATTEMPTS,
    discoveryInterval: init.discoveryInterval ?? DEFAULT_DISCOVERY_INTERVAL,
    recordRefreshInterval: init.recordRefreshInterval ?? DEFAULT_RECORD_REFRESH_INTERVAL,
    maxRecordAge: init.maxRecordAge ?? DEFAULT_MAX_RECORD_AGE,
    maxMessageSize: init.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    maxMembers: init.maxMembers ?? DEFAULT_MAX_MEMBERS,
    closeRelayedAfterUpgrade: init.closeRelayedAfterUpgrade ?? true,
    maxLogMessages: init.maxLogMessages ?? DEFAULT_MAX_LOG_MESSAGES,
    maxLogBytes: init.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES,
    maxQueuedMessages: init.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES,
    replayTimeout: init.replayTimeout ?? DEFAULT_REPLAY_TIMEOUT,
    replayBudget: init.replayBudget ?? DEFAULT_REPLAY_BUDGET,
    persist: init.persist ?? false,
    maxPresenceSize: init.maxPresenceSize ?? DEFAULT_MAX_PRESENCE_SIZE,
    directTimeout: init.directTimeout ?? DEFAULT_DIRECT_TIMEOUT,
    maxPayloadSize: init.maxPayloadSize ?? DEFAULT_MAX_PAYLOAD_SIZE,
    payloadRetention: init.payloadRetention ?? DEFAULT_PAYLOAD_RETENTION
  }
}

/**
 * Bytes a signed envelope adds to a room message's data (public key,
 * signature, domain, payload type, room name up to 256 bytes, counters).
 */
export const MESSAGE_ENVELOPE_OVERHEAD = 512

/**
 * Most messages sealed in one batch under one signature.
 */
export const MAX_BATCH_MESSAGES = 64

/**
 * A message sent within this many ms of the last batch waits for the rest of
 * the window and is sealed with what else came (after a quiet spell, a
 * message is sealed at once).
 */
export const BATCH_WINDOW = 2

/**
 * With `persist`, a member writes that it may use seqs up to this many ahead
 * of its last one before it uses them (and the next block once half of one
 * is used), so a member that crashes never reuses a seq and no send waits
 * for the datastore while the reservation lasts.
 */
export const SEQ_RESERVATION_BLOCK = 1024

/**
 * Bytes a batch adds to its messages' data (signature, room id, sender,
 * counters, tags), at most, and bytes each message adds in it.
 */
export const BATCH_OVERHEAD = 256
export const BATCH_ENTRY_OVERHEAD = 4

/**
 * Largest replay request accepted, in bytes (a signed envelope with the room
 * name, the requester and a nonce).
 */
export const REPLAY_REQUEST_MAX_SIZE = 2 * 1024

export const REPLAY_PROTOCOL_NAME = 'mesh-replay'
export const REPLAY_PROTOCOL_VERSION = '2.0.0'

/**
 * Longest a replay waits for the responder's next frame. Replays run one at
 * a time per room: one that stalls holds up the others only this long.
 */
export const REPLAY_STALL_TIMEOUT = 5 * second

/**
 * Most bytes a `held` or `wants` entry of a replay takes in a frame: a
 * sender's peer id and three counters, with tags and lengths.
 */
export const REPLAY_ENTRY_MAX_SIZE = 80

/**
 * Bytes a frame adds to what it carries (tags, lengths, flags).
 */
export const FRAME_OVERHEAD = 64

/**
 * Bytes one member in a room message's `forwardTo` list takes (peer id and
 * tag).
 */
export const FORWARD_ENTRY_SIZE = 42

/**
 * Members that pass each message on to a member its sender cannot reach.
 */
export const FORWARDERS_PER_MEMBER = 2

/**
 * When a member's stream begins, our own batches it was never sent (it had
 * no stream when we sent them, or we did not know it yet) go to it at once:
 * the newest of them, at most this many and `MISSED_BATCHES_BYTES` bytes
 * (at least one). It asks for older ones in a replay.
 */
export const MISSED_BATCHES_SENT = 8

/**
 * Bytes of the batches sent to a member when its stream begins (see
 * `MISSED_BATCHES_SENT`).
 */
export const MISSED_BATCHES_BYTES = 64 * 1024

/**
 * While a known member has no stream with us, every this many heartbeat
 * intervals a member with one is asked for what we lack (its messages may
 * not have been passed on to us).
 */
export const PULL_INTERVALS = 4

/**
 * Epochs of one sender whose messages a member follows; an older one makes
 * room for a newer one (a sender restarted without its log starts a new
 * epoch).
 */
export const MAX_EPOCHS_PER_SENDER = 8

/**
 * Members a room has heard of (through another member's gossip or the DHT)
 * but has had no stream with yet. They do not count toward `maxMembers` and
 * their records are not passed on; past this many the oldest without a
 * stream or a dial under way makes room. A peer that opens a stream of its
 * own is taken whatever the count.
 */
export const MAX_PENDING_MEMBERS = 32

/**
 * Rooms left whose numbering (epoch, last seq) a node keeps, so joining one
 * again is not a new epoch.
 */
export const MAX_REMEMBERED_ROOMS = 64

/**
 * Senders (members, past members) whose messages a room follows, as a
 * multiple of `maxMembers`.
 */
export const SENDERS_PER_MEMBER_SLOT = 4

/**
 * Replay nonces a member remembers of each other member, per room (each for
 * as long as its request could be accepted): more requests than this within
 * that time are refused.
 */
export const MAX_REPLAY_NONCES_PER_MEMBER = 256

export const DEFAULT_MAX_LOG_MESSAGES = 10_000
export const DEFAULT_MAX_LOG_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_QUEUED_MESSAGES = 1024
export const DEFAULT_REPLAY_TIMEOUT = 60 * second
export const DEFAULT_REPLAY_BUDGET = 32 * 1024 * 1024

/**
 * The largest frame on a room stream: a message as large as allowed, with a
 * `forwardTo` list naming every other member.
 */
export function maxFrameSize (init: Pick<ResolvedMeshInit, 'maxMessageSize' | 'maxMembers'>): number {
  return init.maxMessageSize + init.maxMembers * FORWARD_ENTRY_SIZE + FRAME_OVERHEAD
}

/**
 * The largest frame of a replay: one message, or a page of entries.
 */
export function maxReplayFrameSize (init: Pick<ResolvedMeshInit, 'maxMessageSize'>): number {
  return init.maxMessageSize + FRAME_OVERHEAD
}

/**
 * Relays one dial to a member goes through at most (a record may name 32
 * addresses).
 */
export const MAX_DIALED_RELAYS = 4

/**
 * Dials through a relay address that is neither known to the `relays`
 * service nor verified (an open connection whose peer serves the hop
 * protocol), per host:port, per {@link UNVERIFIED_RELAY_WINDOW}, for all
 * rooms of a node together.
 */
export const UNVERIFIED_RELAY_DIALS = 3

/** see {@link UNVERIFIED_RELAY_DIALS}, ms */
export const UNVERIFIED_RELAY_WINDOW = 60 * 60_000

/**
 * Dials through unverified relays, all host:ports together, per
 * {@link UNVERIFIED_RELAY_WINDOW}: one host:port has many spellings (a name,
 * IPv4 in IPv6, /ws or not)
 */
export const UNVERIFIED_RELAY_DIALS_TOTAL = 64

/** unverified relay host:ports whose dials a node counts at once */
export const MAX_UNVERIFIED_RELAY_ADDRS = 1024
