/**
 * @packageDocumentation
 *
 * The `mesh` service: rooms of peers that keep a full mesh of direct WebRTC
 * connections.
 *
 * `join(name, { roster?, threshold? })` returns a `Room`. Members find each
 * other through provider records of the room's CID in relaymesh's DHT and
 * through gossip: on every new room stream both sides send the signed member
 * records they know, so a newcomer learns the whole room from any one member.
 * Every member is then dialed on its `/p2p-circuit/webrtc` address (one
 * member of each pair, chosen by a hash of the two peer ids, dials it, with
 * fast retries and jitter; see `LinkDialer`); where WebRTC fails the relayed connection carries the room and the
 * member is reported `relayed`. Once a pair is direct, the relayed connection
 * that carried the signaling is closed.
 *
 * Every control message is a signed envelope (see `relaymesh/envelope`);
 * forged, stale, replayed, cross-room, oversize and malformed messages are
 * refused with a typed error, reported as `mesh:message-rejected`, and change
 * nothing. A roster room ignores peers not on its roster.
 *
 * `join(name, { secret })` makes a private room (see `JoinOptions.secret`): its CID
 * and keys come from the secret, each side of a room stream proves the
 * secret before anything else is sent (`WrongSecretError` otherwise), and
 * what messages, notes and large payloads carry is encrypted.
 *
 * Heartbeats every `heartbeatInterval` give each member's RTT, loss and a
 * 0-100 score (see `relaymesh/health`); a member not heard from for
 * `missedHeartbeats` intervals is reported `member:unreachable` (1 s by
 * default). Its stream is kept for `unreachableTimeout`: a member that was
 * only slow (a busy machine) answers on it again and is reported
 * `member:rejoined` without losing its connection. After that, or at once
 * when the member signs a new record (it restarted), its connection is closed
 * and it is reconnected with exponential backoff and full jitter; when it is
 * back it is reported `member:rejoined`.
 *
 * `room.send(bytes)` signs a message (sender, epoch, seq) and sends it to
 * every member: on its stream, passed on by another member when it has none,
 * or from the log when it is back. `message` events come in seq order per
 * sender, once. Each room keeps a bounded log; a member that lacks messages
 * asks another on the replay protocol with a signed request, and what is
 * gone (the sender no longer holds it, or it left and no member we reach
 * does) is a `gap` event. With a datastore
 * (`persist`) the log and counters survive restarts. Rooms with a
 * `threshold` report `hasQuorum`, `quorum:lost` and `quorum:regained`.
 *
 * Besides logged messages, members exchange signed notes that are never
 * logged (see `src/mesh/notes`): presence (`room.setPresence`, the newest
 * value per member, given to newcomers), ephemeral messages
 * (`room.send(data, { ephemeral: true })`), direct messages with signed
 * receipts (`room.sendTo`) and requests (`room.request`,
 * `room.handleRequest`). Data larger than a message, or a Blob, goes as a
 * large payload (see `src/mesh/payloads`): the message carries a signed
 * manifest with each block's hash, and each member fetches the blocks on
 * its own stream, from the sender or through a member that reaches it.
 *
 * `createMeshNode()` adds this service as `node.services.mesh`.
 *
 * @example
 *
 * ```TypeScript
 * import { createMeshNode } from 'relaymesh'
 *
 * const node = await createMeshNode({
 *   bootstrap: ['/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooW...']
 * })
 *
 * const room = await node.services.mesh.join('lobby')
 *
 * room.addEventListener('member:joined', (evt) => {
 *   console.info('%p joined over a %s connection', evt.detail.peerId, evt.detail.route)
 * })
 *
 * console.info(room.members.map(m => `${m.peerId} ${m.state} ${m.rtt} ms ${m.score}`))
 *
 * await room.leave()
 * ```
 */

import { MeshService } from './mesh.ts'
import type { MemberState } from '../health/index.ts'
import type { Relays } from '../relays/index.ts'
import type { AbortOptions, ComponentLogger, Connection, ContentRouting, Libp2pEvents, PeerId, PeerStore, PrivateKey, StreamHandler, StreamHandlerOptions, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import type { CID } from 'multiformats/cid'

export type { MemberState } from '../health/index.ts'
export { roomCid } from './room-cid.ts'
export { CorruptPayloadError, EquivocationError, NoRelayToDialError, NotAMemberError, NotOnRosterError, PayloadUnavailableError, RecordQuotaError, ReplayRefusedError, RequestFailedError, RoomNotJoinedError, RoomClosedError, StaleNoteError, UnknownMemberError, WrongSecretError } from './errors.ts'
export { ROOM_SECRET_ITERATIONS } from './room-secret.ts'

/**
 * Options of the `mesh` service. Times are in ms.
 */
export interface MeshInit {
  /**
   * Prefix of the room protocol id
   *
   * @default '/relaymesh'
   */
  protocolPrefix?: string

  /**
   * Time between heartbeats to each member
   *
   * @default 333
   */
  heartbeatInterval?: number

  /**
   * Heartbeat intervals without hearing from a member before it is unreachable
   *
   * @default 3
   */
  missedHeartbeats?: number

  /**
   * How long the stream and connection of an unreachable member are kept in
   * case it answers again, before they are closed and the member is dialed
   * afresh (a killed peer's WebRTC connection lingers ~30 s)
   *
   * @default 10_000
   */
  unreachableTimeout?: number

  /**
   * First reconnection delay for an unreachable member; doubles per failure, full jitter
   *
   * @default 250
   */
  reconnectInitial?: number

  /**
   * Longest reconnection delay
   *
   * @default 30_000
   */
  reconnectMax?: number

  /**
   * Longest one dial attempt (relayed or WebRTC) may take
   *
   * @default 10_000
   */
  dialTimeout?: number

  /**
   * WebRTC dials this node runs at once, across its rooms; more wait their
   * turn. Measured with 20 members in one process, 4 to 32 formed the mesh
   * equally fast (the CPU sets the pace) and 2 was slower: see the README's
   * formation benchmark
   *
   * @default 8
   */
  maxParallelWebRTCDials?: number

  /**
   * WebRTC attempts in a row before a pair settles on its relayed connection
   * (and tries again after `reconnectMax`)
   *
   * @default 5
   */
  upgradeAttempts?: number

  /**
   * How often to look the room up in the DHT (sooner while alone)
   *
   * @default 30_000
   */
  discoveryInterval?: number

  /**
   * How often a member re-signs its record (also when its addresses change)
   *
   * @default 60_000
   */
  recordRefreshInterval?: number

  /**
   * Records older than this are refused
   *
   * @default 600_000
   */
  maxRecordAge?: number

  /**
   * Largest message on the room protocol, in bytes
   *
   * @default 16_384
   */
  maxMessageSize?: number

  /**
   * Most members a room holds, counting only those a stream was completed
   * with; peers only heard of wait among at most 32 pending besides
   *
   * @default 256
   */
  maxMembers?: number

  /**
   * Close the relayed connection to a member once a direct one carries the
   * room (the pair's dialer does, 1 s after), and, once a heartbeat interval,
   * relayed connections to it without streams that are older than 1 s. A
   * second direct (WebRTC) connection without streams, which both sides
   * dialing at once leave, is closed whatever this says.
   *
   * @default true
   */
  closeRelayedAfterUpgrade?: boolean

  /**
   * Most messages a room's log keeps (of all senders); the oldest go first
   *
   * @default 10_000
   */
  maxLogMessages?: number

  /**
   * Most bytes of signed messages a room's log keeps
   *
   * @default 67_108_864
   */
  maxLogBytes?: number

  /**
   * Messages queued to one member before more are left to the log, from
   * which the member asks for them when it sees it lags (a slow member never
   * holds up the others)
   *
   * @default 1024
   */
  maxQueuedMessages?: number

  /**
   * Longest a replay (asking a member for missed messages, or answering) may take
   *
   * @default 60_000
   */
  replayTimeout?: number

  /**
   * Bytes of messages this member answers one other member's replays with
   * per minute; a replay that reaches it ends early (truncated) and the
   * member asks again later
   *
   * @default 33_554_432
   */
  replayBudget?: number

  /**
   * Keep each room's log and this member's message counters in the node's
   * datastore (`datastore-level` in Node, `datastore-idb` in browsers), so a
   * member that restarts with the same key and datastore still holds what it
   * had and goes on numbering its messages where it stopped (after a
   * crash, after the seqs it had reserved: see `docs/message-plane.md`)
   *
   * @default true when `createMeshNode` is given a `datastore`
   */
  persist?: boolean

  /**
   * Largest presence value (see `Room.setPresence`) a member sets or takes,
   * in bytes (as JSON text unless a Uint8Array)
   *
   * @default 1024
   */
  maxPresenceSize?: number

  /**
   * How long `sendTo` waits for the recipient's receipt, and `request` for
   * its response, unless the call says otherwise
   *
   * @default 10_000
   */
  directTimeout?: number

  /**
   * Largest payload `send` and `sendTo` take, and a member fetches, in
   * bytes (see `IncomingPayload`)
   *
   * @default 1_073_741_824
   */
  maxPayloadSize?: number

  /**
   * How long a member keeps a payload it sent for the others to fetch
   * (a member that reads it later, or gets its message in a replay), ms
   *
   * @default 600_000
   */
  payloadRetention?: number
}

/**
 * Options of `join`.
 */
export interface JoinOptions extends AbortOptions {
  /**
   * The only peers allowed in the room (this node must be one). Records,
   * streams and dials of other peers are refused.
   */
  roster?: Array<PeerId | string>

  /**
   * Members (this one included) that make a quorum; roster rooms only
   *
   * @default the roster's size
   */
  threshold?: number

  /**
   * Makes the room private: only peers that hold the same secret (and name)
   * are in it. Its CID in the DHT comes from the secret, so nobody can find
   * its members from the name; each side of a room stream proves it holds
   * the secret before anything else is sent (a peer that cannot is refused
   * with `WrongSecretError` and learns nothing of the room); what messages,
   * notes and large payloads carry is encrypted with a key derived from it
   * (XChaCha20-Poly1305; payload blocks AES-256-GCM), so relays, the
   * datastore and peers outside the room see only ciphertext of it. A wrong
   * secret is another room: nobody is found in it. Use a secret of at least
   * 128 random bits (the chat page makes one): a short password can be
   * guessed offline from the room's CID, at the cost of PBKDF2 (`ROOM_SECRET_ITERATIONS`) per guess. Works with `roster` too.
   * See "Private rooms" in docs/api.md for what a holder of the secret can
   * and cannot do.
   */
  secret?: string | Uint8Array
}

/**
 * How a member is reached: on a direct (WebRTC) or relayed connection of our
 * own, `forwarded` when we have none but its messages reached us through
 * other members within the last `unreachableTimeout`, else `none`.
 */
export type MemberRoute = 'direct' | 'relayed' | 'forwarded' | 'none'

/**
 * What a room knows of one member.
 */
export interface MemberInfo {
  peerId: PeerId
  state: MemberState
  route: MemberRoute
  /** heartbeat round-trip time, ms */
  rtt?: number
  /** share of recent heartbeats not answered (0-1) */
  loss: number
  /** 0-100, see `healthScore` */
  score: number
  /** when the member was last heard from, ms since the epoch */
  lastSeen?: number
  /** addresses from its signed record */
  multiaddrs: Multiaddr[]
}

/**
 * A refused message.
 */
export interface RejectedMessage {
  /** the peer that sent it */
  remotePeer: PeerId
  /** the room, if the message got that far */
  room?: string
  error: Error
}

/**
 * A message another member sent to the room.
 */
export interface RoomMessage {
  sender: PeerId
  /** when the sender's log started (a sender restarted without its log starts a new epoch) */
  epoch: number
  /** 1, 2, 3... per sender and epoch; delivered in this order, once */
  seq: number
  /** when the sender sent it, ms since the epoch (its clock) */
  timestamp: number
  data: Uint8Array
  /**
   * a large payload: `data` is empty, and the bytes are fetched with
   * `payload.read()` (they are not in the log: see `payloadRetention`)
   */
  payload?: IncomingPayload
  /**
   * it was sent before this member's stream with the sender began (while
   * it was away, or before they knew of each other): it came in a replay,
   * or the sender sent it when their stream began
   */
  replayed: boolean
}

/**
 * A message this member sent.
 */
export interface SentMessage {
  epoch: number
  seq: number
  timestamp: number
  /** a large payload's id, as in `payload:progress` events */
  payloadId?: string
}

/**
 * A direct message that arrived (see `sendTo`).
 */
export interface SentDirectMessage {
  /** a large payload's id, as in `payload:progress` events */
  payloadId?: string
}

/**
 * Options of `Room.send`.
 */
export interface SendOptions {
  /**
   * A file name to send with a payload (a `File`'s own name otherwise);
   * with `name` or `type`, `data` goes as a payload whatever its size
   */
  name?: string

  /**
   * A media type to send with a payload (a `Blob`'s own type otherwise)
   */
  type?: string

  /**
   * Send `data` once to the members reached now, without logging it: no
   * seq, no replay, no `gap` (a typing signal). Receivers get an
   * `ephemeral` event, not `message`.
   */
  ephemeral?: boolean
}

/**
 * A message another member sent with `{ ephemeral: true }`: not logged,
 * never replayed, delivered once to the members it reached.
 */
export interface EphemeralMessage {
  sender: PeerId
  /** when the sender signed it, ms since the epoch (its clock) */
  timestamp: number
  data: Uint8Array
}

/**
 * A message one member sent to this one only (`sendTo`), or a request
 * (`request`).
 */
export interface DirectMessage {
  sender: PeerId
  /** when the sender signed it, ms since the epoch (its clock) */
  timestamp: number
  data: Uint8Array
  /** a large payload: `data` is empty, and the bytes are fetched with `payload.read()` */
  payload?: IncomingPayload
}

/**
 * Options of `sendTo` and `request`.
 */
export interface DirectSendOptions extends AbortOptions, Pick<SendOptions, 'name' | 'type'> {
  /**
   * Longest to wait for the receipt or response, ms
   *
   * @default the room's `directTimeout`
   */
  timeout?: number
}

/**
 * Answers a request of another member (see `Room.handleRequest`): the bytes
 * it resolves with are the response; what it throws reaches the requester
 * as a `RequestFailedError` with the error's message. `options.signal`
 * aborts when the room is left.
 */
export type RequestHandler = (request: DirectMessage, options: AbortOptions) => Promise<Uint8Array> | Uint8Array

/**
 * A large payload another member sent (see `Room.send`): its manifest (size,
 * name, type, the hash of each block) came signed; reading it fetches the
 * bytes from the sender, or through a member that reaches the sender, and
 * checks each block before giving it. A fetch that breaks resumes where it
 * stopped. It can be read while the sender keeps it (`payloadRetention`).
 */
export interface IncomingPayload {
  /** unique per sender (hex) */
  readonly id: string
  readonly sender: PeerId
  /** bytes */
  readonly size: number
  /** the file name the sender gave, if any */
  readonly name?: string
  /** the media type the sender gave, if any */
  readonly type?: string
  /**
   * The payload block by block (each checked), fetched as fast as they are
   * taken: memory holds one block at a time. `payload:progress` events report the
   * bytes received.
   *
   * @throws {PayloadUnavailableError} the sender no longer holds it, or no member reached could give it
   * @throws {CorruptPayloadError} the sender's blocks do not match its manifest
   * @throws {MessageTooLargeError} it is larger than this member's `maxPayloadSize` (the sender's may be larger)
   */
  read(options?: AbortOptions): AsyncGenerator<Uint8Array, void, undefined>
  /** the whole payload in memory (see `read`) */
  bytes(options?: AbortOptions): Promise<Uint8Array>
  /** the whole payload as a Blob of its `type` (see `read`) */
  blob(options?: AbortOptions): Promise<Blob>
}

/**
 * How far a payload has gone to or come from one member.
 */
export interface PayloadProgress {
  /** the payload's id */
  id: string
  /** the member fetching it from us (`upload`), or the payload's sender (`download`) */
  peerId: PeerId
  direction: 'upload' | 'download'
  /** bytes sent to that member, or received, so far */
  bytes: number
  total: number
}

/**
 * One member's presence (see `Room.setPresence`).
 */
export interface PresenceInfo {
  peerId: PeerId
  /** a Uint8Array as set, else the value parsed from its JSON text; `undefined`: none (cleared, left, or dropped) */
  value: unknown
  /** when the member set it, ms since the epoch (its clock) */
  updatedAt: number
}

/**
 * Messages of one sender that are gone: the sender no longer holds them, or
 * it left the room and no member this one reaches does. Skipped, never
 * silently.
 */
export interface MessageGap {
  sender: PeerId
  epoch: number
  /** first and last seq missing */
  from: number
  to: number
}

/**
 * A replay that failed: the member asked and why.
 */
export interface ReplayFailure {
  peerId: PeerId
  error: Error
}

/**
 * Quorum state of a roster room.
 */
export interface QuorumInfo {
  /** members reached (direct or relayed), this one included */
  reachable: number
  threshold: number
}

/**
 * A member that left, and why
 */
export interface LeftMember extends MemberInfo {
  /** `left`: it signed a leave; `expired`: nothing fresh of it for `maxRecordAge` */
  reason: 'left' | 'expired'
}

export interface RoomEvents {
  /** a message from another member, in order per sender */
  message: CustomEvent<RoomMessage>
  /** messages that could not be had from any member reached */
  gap: CustomEvent<MessageGap>
  /** asking a member for missed messages failed (another member is asked) */
  'replay:failed': CustomEvent<ReplayFailure>
  /** a datastore write of the room's log failed (the room goes on in memory) */
  'store:failed': CustomEvent<Error>
  /** fewer than `threshold` members (this one included) are reached */
  'quorum:lost': CustomEvent<QuorumInfo>
  /** at least `threshold` members are reached, also the first time */
  'quorum:regained': CustomEvent<QuorumInfo>
  /** a member was heard from for the first time */
  'member:joined': CustomEvent<MemberInfo>
  /**
   * a member that had `member:joined` left: it signed that it left
   * (`reason: 'left'`), or no stream with it was open and nothing it signed
   * was younger than `maxRecordAge` (`'expired'`: it crashed or closed its
   * tab without a leave). A pending member (heard of, never joined) goes
   * without an event.
   */
  'member:left': CustomEvent<LeftMember>
  /** a member was not heard from for `missedHeartbeats` intervals */
  'member:unreachable': CustomEvent<MemberInfo>
  /** an unreachable member is back */
  'member:rejoined': CustomEvent<MemberInfo>
  /** a member's state, route or score changed */
  'member:updated': CustomEvent<MemberInfo>
  /**
   * a member's presence changed: it set a value, cleared it (`value`
   * undefined), left, or was dropped (no stream and nothing of it heard for
   * `unreachableTimeout`)
   */
  presence: CustomEvent<PresenceInfo>
  /** an ephemeral message from another member (see `SendOptions.ephemeral`) */
  ephemeral: CustomEvent<EphemeralMessage>
  /** a direct message from another member (see `sendTo`), once */
  direct: CustomEvent<DirectMessage>
  /** a payload went further to or from a member (a block at a time) */
  'payload:progress': CustomEvent<PayloadProgress>
}

/**
 * A room this node has joined.
 */
export interface Room extends TypedEventTarget<RoomEvents> {
  readonly name: string
  /** the CID members provide in the DHT (from the secret, for a private room) */
  readonly cid: CID
  /** joined with a `secret` (see `JoinOptions.secret`) */
  readonly isPrivate: boolean
  /** the allowed peers of a roster room */
  readonly roster?: PeerId[]
  readonly threshold?: number
  /** the other members known (not including this node) */
  readonly members: MemberInfo[]
  member(peerId: PeerId): MemberInfo | undefined
  /**
   * Signs `data` as this member's next message and sends it to every member:
   * on its direct or relayed stream, passed on by another member when there
   * is none, or from the log when the member is back. Resolves once it is
   * signed, in the log and queued to the members; with `persist` it is
   * written to the datastore with the next commit (a failure is a
   * `store:failed` event).
   *
   * Data larger than `maxMessageSize` less the envelope (up to
   * `maxPayloadSize`), a Blob (a `File`, or `fs.openAsBlob` in Node: read a
   * block at a time), or data sent with a `name` or `type`, goes as a large
   * payload: the message is its signed manifest (the hash of each block),
   * and each member fetches the bytes when it reads `payload` (see
   * `IncomingPayload`), from us or through a member that reaches us, while
   * we keep it (`payloadRetention`). The log and replays hold the manifest
   * only. Resolves once the payload is hashed and its message sent. The
   * Uint8Array is kept, not copied: do not change it while members may
   * fetch it.
   * `payload:progress` events report what each member fetched.
   *
   * @throws {InvalidParametersError} `data` is not a Uint8Array or Blob of at most `maxPayloadSize`, or a name or type is too long
   * @throws {RoomClosedError} the room was left
   * @throws {Error} with `persist`, the datastore's error when its seq cannot be reserved (nothing was sent)
   */
  send(data: Uint8Array | Blob, options?: SendOptions & { ephemeral?: false }): Promise<SentMessage>
  /**
   * Signs `data` and sends it once to the members reached now (on their
   * streams, or passed on by another member), without logging it: members
   * away or not yet joined never get it. Receivers get an `ephemeral` event.
   *
   * @throws {InvalidParametersError} `data` is not a Uint8Array of at most `maxMessageSize` less the envelope
   * @throws {RateLimitError} more than 20 this second
   * @throws {RoomClosedError} the room was left
   */
  send(data: Uint8Array, options: SendOptions & { ephemeral: true }): Promise<void>
  /**
   * Sets this member's presence, a small value (a Uint8Array, or anything
   * JSON can hold, at most `maxPresenceSize` bytes) every member holds the
   * newest of, never logged or replayed: members that join later get it
   * when their stream with a member begins. `undefined` clears it. Updates
   * faster than 20 a second are coalesced (the newest goes). Resolves once
   * it is signed and queued to the members.
   *
   * @throws {InvalidParametersError} a value that is not a Uint8Array or JSON, or is too large
   * @throws {RoomClosedError} the room was left
   */
  setPresence(value: unknown): Promise<void>
  /** the other members' presence, those that set one */
  readonly presence: PresenceInfo[]
  /**
   * Signs `data` and sends it to one member only: on the stream with it,
   * else passed on by members that reach it, which cannot alter it (the
   * recipient checks the signature). It is sent again until the member's
   * signed receipt arrives, and the member takes it once: resolved means it
   * arrived; a rejection (timeout, abort, room left) means it may or may
   * not have. Not logged: a member away past the timeout never gets it.
   * Larger data, a Blob, or data with a `name` or `type`, goes as a large
   * payload (see `send`) only this member may fetch (a member passing the
   * fetch on sees the bytes, as with a direct message); resolved then means
   * its manifest arrived (and `payloadId` names it in `payload:progress`
   * events).
   *
   * @throws {InvalidParametersError} `data` is not a Uint8Array or Blob of at most `maxPayloadSize`, or a name or type is too long
   * @throws {UnknownMemberError} `peerId` is not a member
   * @throws {RateLimitError} more than 50 direct messages and requests this second
   * @throws {TimeoutError} no receipt within `timeout`
   * @throws {RoomClosedError} the room was left
   */
  sendTo(peerId: PeerId, data: Uint8Array | Blob, options?: DirectSendOptions): Promise<SentDirectMessage>
  /**
   * Sends a request to one member, as `sendTo` does, and resolves with the
   * response its `handleRequest` handler gave. The member handles each
   * request once, however many copies arrive.
   *
   * @throws {RequestFailedError} the member's handler threw, it has none, or it was handling 8 of ours
   * @throws {InvalidParametersError | UnknownMemberError | RateLimitError | TimeoutError | RoomClosedError} as `sendTo`
   */
  request(peerId: PeerId, data: Uint8Array, options?: DirectSendOptions): Promise<Uint8Array>
  /** answers requests of other members with `handler` (replacing any before) */
  handleRequest(handler: RequestHandler): void
  /** requests are answered with a failure from now on */
  unhandleRequest(): void
  /**
   * True while this member reaches (direct or relayed) at least `threshold`
   * members, itself included. Always true in a room without a threshold.
   */
  readonly hasQuorum: boolean
  /** resolves once `hasQuorum` is true */
  waitForQuorum(options?: AbortOptions): Promise<void>
  /** signs and sends a leave, then closes the room's streams and timers */
  leave(options?: AbortOptions): Promise<void>
}

export interface MeshEvents {
  'mesh:message-rejected': CustomEvent<RejectedMessage>
}

/**
 * The `mesh` service.
 */
export interface Mesh extends TypedEventTarget<MeshEvents> {
  /**
   * Joins (or returns the already joined) room `name`; with a `secret`, the
   * private room of that name and secret (another room than the open one).
   *
   * @throws {InvalidParametersError} the node is not started, a bad name (an open room's may not start with `private/`), an empty secret, a roster without this node, a bad threshold
   */
  join(name: string, options?: JoinOptions): Promise<Room>
  readonly rooms: Room[]
}

/**
 * What the service needs from libp2p.
 */
export interface MeshComponents {
  peerId: PeerId
  privateKey: PrivateKey
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  connectionManager: {
    getConnections(peerId?: PeerId): Connection[]
    openConnection(peer: PeerId | Multiaddr | Multiaddr[], options?: AbortOptions & { force?: boolean }): Promise<Connection>
    closeConnections(peer: PeerId, options?: AbortOptions): Promise<void>
  }
  peerStore: PeerStore
  datastore: Datastore
  contentRouting: ContentRouting
  addressManager: { getAddresses(): Multiaddr[] }
  /**
   * The relays service, when the node has one: members' addresses are
   * dialed through the relays it knows (see `RelayGate`)
   */
  relays?: Pick<Relays, 'candidates' | 'selected'>
}

/**
 * Creates the `mesh` service.
 */
export function mesh (init: MeshInit = {}): (components: MeshComponents) => Mesh {
  return (components) => new MeshService(components, init)
}
