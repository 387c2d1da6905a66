/**
 * @packageDocumentation
 *
 * relaymesh's WebRTC transport: `@libp2p/webrtc`'s private-to-private
 * transport (`/p2p-circuit/webrtc`, version 6.0.33, Apache-2.0 OR MIT,
 * Protocol Labs) carried in relaymesh with the fixes that make its dials
 * reliable, so that every user of relaymesh gets them (docs/webrtc-fixes.md):
 *
 * - the initiator no longer waits for an `open` event of its `init` channel
 * that has already happened, and waits at most 2 s for that channel's `close`
 * once the connection is up (fix 1);
 * - the initiator holds its ICE candidates back until the SDP answer has been
 * applied (DTLS `unknown CA` and 1 s stalls), and a connection that fails
 * during signalling fails the dial at once instead of after the 6 s dial
 * timeout (fix 2);
 * - in Node, `RTCPeerConnection.close()` of a `disconnected` or `failed`
 * connection waits for libdatachannel's own close (fault 4: a rare SIGSEGV).
 *
 * Every change to the upstream code is marked `relaymesh`. The wire protocol
 * is unchanged: it dials and answers stock `@libp2p/webrtc` peers and browsers.
 * No public STUN servers are configured by default: give `iceServers` in
 * `rtcConfiguration` (relaymesh's nodes take them from their relays).
 *
 * @example
 *
 * ```TypeScript
 * import { meshWebRTC } from 'relaymesh/webrtc'
 * import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
 * import { createLibp2p } from 'libp2p'
 *
 * const node = await createLibp2p({
 *   transports: [meshWebRTC({ rtcConfiguration: { iceServers: [] } }), circuitRelayTransport()],
 *   // ...
 * })
 * ```
 */

import { MeshWebRTCTransport } from './transport.ts'
import type { WebRTCTransportComponents, WebRTCTransportInit } from './transport.ts'
import type { Transport } from '@libp2p/interface'

export interface DataChannelOptions {
  /**
   * The maximum message size to be sent over the channel in bytes
   *
   * @default 16_384
   */
  maxMessageSize?: number

  /**
   * If the channel's `bufferedAmount` grows over this amount in bytes, wait
   * for it to drain before sending more data
   *
   * @default 16_777_216
   */
  maxBufferedAmount?: number

  /**
   * When `bufferedAmount` is above `maxBufferedAmount`, we pause sending until
   * the `bufferedAmountLow` event fires - this controls how long we wait for
   * that event in ms
   *
   * @default 30_000
   */
  bufferedAmountLowEventTimeout?: number

  /**
   * When closing a stream, we wait for `bufferedAmount` to become 0 before
   * closing the underlying RTCDataChannel - this controls how long we wait
   * in ms
   *
   * @default 30_000
   */
  drainTimeout?: number

  /**
   * When closing a stream we first send a FIN flag to the remote and wait
   * for a FIN_ACK reply before closing the underlying RTCDataChannel - this
   * controls how long we wait for the acknowledgement in ms
   *
   * @default 5_000
   */
  closeTimeout?: number

  /**
   * When sending the first data message, if the channel is not in the "open"
   * state, wait this long for the "open" event to fire.
   *
   * @default 5_000
   */
  openTimeout?: number

  /**
   * Due to bugs in WebRTC implementations it's necessary for the remote end of
   * the connection to acknowledge the FIN message we send during stream
   * closing. A stream will wait for this many ms.
   *
   * @default 10_000
   */
  finAckTimeout?: number
}

export type { WebRTCTransportComponents, WebRTCTransportInit }
export type { WebRTCDialEvents, InitChannelReport } from './transport.ts'
export { INIT_CHANNEL_CLOSE_WAIT } from './initiate-connection.ts'

/**
 * The WebRTC private-to-private transport (`/p2p-circuit/webrtc`) with
 * relaymesh's dial fixes: a drop-in for `webRTC()` of `@libp2p/webrtc`, with
 * the same options.
 */
export function meshWebRTC (init?: WebRTCTransportInit): (components: WebRTCTransportComponents) => Transport {
  return (components: WebRTCTransportComponents) => new MeshWebRTCTransport(components, init)
}
