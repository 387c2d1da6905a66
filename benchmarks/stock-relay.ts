/**
 * A stock js-libp2p relay (circuitRelayServer with relaying unlimited), for
 * benchmarks that compare it with the relay program. Prints the same readiness
 * line as the relay program.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0/ws'] },
  transports: [webSockets()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1000 },
  services: {
    identify: identify(),
    relay: circuitRelayServer({ reservations: { maxReservations: 10_000, applyDefaultLimit: false } })
  }
})

process.stdout.write(`${JSON.stringify({ event: 'ready', peerId: node.peerId.toString(), multiaddrs: node.getMultiaddrs().map(ma => ma.toString()) })}\n`)

process.on('SIGTERM', () => {
  void Promise.resolve(node.stop()).finally(() => process.exit(0))
})
