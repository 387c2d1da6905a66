/**
 * A stock js-libp2p relay (circuitRelayServer with relaying unlimited), for
 * benchmarks that compare it with the relay program, tuned as in
 * BASELINE.md: limits raised so thousands of clients from 127.0.0.1 get in.
 * Prints the same readiness line as the relay program.
 */
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { installMemoryHook } from '../relay/debug.ts'

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0/ws'] },
  transports: [webSockets()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: { maxConnections: 10_000, inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1000 },
  services: {
    identify: identify(),
    relay: circuitRelayServer({ reservations: { maxReservations: 10_000, applyDefaultLimit: false } })
  }
})

// RELAYMESH_DEBUG_MEMORY=1: SIGUSR2 prints memory use after a full GC, as the relay program does
installMemoryHook(() => ({ reservations: node.services.relay.reservations.size, connections: node.getConnections().length }))

process.stdout.write(`${JSON.stringify({ event: 'ready', peerId: node.peerId.toString(), multiaddrs: node.getMultiaddrs().map(ma => ma.toString()) })}\n`)

process.on('SIGTERM', () => {
  void Promise.resolve(node.stop()).finally(() => process.exit(0))
})
