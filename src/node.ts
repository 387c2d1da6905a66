import { lookup } from 'node:dns/promises'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import { meshNodeOptions } from './options.ts'
import { meshWebRTC } from './webrtc/index.ts'
import type { MeshNodeInit, RelaymeshServices } from './options.ts'
import type { ServiceMap } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'

/**
 * Creates and starts a relaymesh node for Node.js: WebRTC (private-to-private
 * through `/p2p-circuit/webrtc`), WebSockets, TCP, circuit relay v2, Noise,
 * Yamux, identify, ping and relaymesh's Kademlia DHT.
 *
 * In browsers the package's `browser` map swaps in `node.browser.ts`, which has
 * the same signature and leaves out TCP.
 */
export async function createMeshNode <T extends ServiceMap = ServiceMap> (init: MeshNodeInit<T> = {}): Promise<Libp2p<RelaymeshServices & T>> {
  return createLibp2p(meshNodeOptions(init, rtcConfiguration => ({
    transports: [
      meshWebRTC({ rtcConfiguration }),
      webSockets(),
      tcp(),
      circuitRelayTransport()
    ],
    resolveHost: async name => (await lookup(name, { all: true })).map(entry => entry.address)
  })))
}
