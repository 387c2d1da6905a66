/**
 * @packageDocumentation
 *
 * relaymesh keeps a group of peers (a room) connected peer to peer in browsers
 * and Node.js, on js-libp2p: WebRTC between members, circuit relay v2 relays
 * for signaling and fallback, and its own Kademlia DHT to find relays.
 *
 * `createMeshNode()` returns a started libp2p node composed for its
 * environment. Give it one or more relays to reserve on:
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
 * // addresses other peers can dial, including `/p2p-circuit/webrtc` ones
 * console.info(node.getMultiaddrs())
 *
 * await node.stop()
 * ```
 */

export { createMeshNode } from './node.ts'
export { inboundSourceKey, limitInboundConnections } from './inbound-limiter.ts'
export { dialHost, filterDials } from './dial-filter.ts'
export { DEFAULT_DHT_PROTOCOL, DEFAULT_INBOUND_CONNECTIONS_PER_SOURCE, DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS } from './constants.ts'
export type { MeshNodeInit, RelaymeshServices } from './options.ts'
export type { DialFilterInit } from './dial-filter.ts'
export type { InboundConnectionLimitInit } from './inbound-limiter.ts'
export type { Mesh, MeshInit, Room, RoomEvents, JoinOptions, LeftMember, MemberInfo, MemberRoute, MemberState, RejectedMessage, RoomMessage, SentMessage, SentDirectMessage, MessageGap, QuorumInfo, ReplayFailure, SendOptions, EphemeralMessage, DirectMessage, DirectSendOptions, RequestHandler, PresenceInfo, IncomingPayload, PayloadProgress } from './mesh/index.ts'
