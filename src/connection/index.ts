/**
 * @packageDocumentation
 *
 * Connection encryption and stream multiplexing for relaymesh's WebSocket and
 * TCP connections (relay connections, and relayed connections through them):
 * `@libp2p/noise` and `@libp2p/yamux`, each with a fix relaymesh makes from
 * outside, on each instance it creates, so that every user of relaymesh gets
 * it (no patched files in `node_modules`). See docs/webrtc-fixes.md, faults 5
 * and 6.
 */

export { meshNoise, quietFrameDecoder, frameLength } from './noise.ts'
export { meshYamux, halfWindowUpdates } from './yamux.ts'
