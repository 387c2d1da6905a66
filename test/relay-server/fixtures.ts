import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { echo, pbStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { Registry } from 'prom-client'
import { RELAY_V2_HOP_CODEC, relayServer } from '../../relay/server/index.ts'
import { HopMessage } from '../../src/circuit/index.ts'
import { stopNodes } from '../fixtures/options.ts'
import type { RelayServer, RelayServerEvents, RelayServerInit } from '../../relay/server/index.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2pOptions } from 'libp2p'

export const ECHO = '/relaymesh-test/echo/1.0.0'
export const SINK = '/relaymesh-test/sink/1.0.0'
export const KiB = 1024
export const MiB = 1024 * KiB

export type RelayNode = Libp2p<{ identify: Identify, relay: RelayServer }>
export type ClientNode = Libp2p<{ identify: Identify }>

export interface TestRelay {
  node: RelayNode
  relay: RelayServer
  addr: Multiaddr
  registry: Registry

  /**
   * The value of a metric sample, 0 when absent
   */
  metric(name: string, labels?: Record<string, string>): Promise<number>
}

const base = (): Pick<Libp2pOptions, 'connectionEncrypters' | 'streamMuxers'> => ({
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()]
})

/**
 * A relay on 127.0.0.1 running our relay server, with its own metrics
 * registry. Per-IP limits are lifted unless `init` sets them: every test
 * client comes from 127.0.0.1
 */
export async function createRelay (init: RelayServerInit = {}, options: Partial<Libp2pOptions> = {}): Promise<TestRelay> {
  const registry = new Registry()
  const node: RelayNode = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    ...base(),
    connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1000 },
    metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }),
    ...options,
    services: {
      identify: identify(),
      relay: relayServer({ maxReservationsPerIp: 1000, reservationRateLimit: 1000, ...init })
    }
  })

  return {
    node,
    relay: node.services.relay,
    addr: node.getMultiaddrs()[0],
    registry,
    async metric (name, labels = {}) {
      const metric = await registry.getSingleMetric(name)?.get()
      const sample = metric?.values.find(v => Object.entries(labels).every(([k, val]) => v.labels[k] === val))

      return sample?.value ?? 0
    }
  }
}

/**
 * A stock js-libp2p client: TCP plus the stock circuit relay transport,
 * listening on `/p2p-circuit` so it reserves on relays it connects to
 * (unless `listen` is false: then it only dials)
 */
export async function createClient (listen = true): Promise<ClientNode> {
  return createLibp2p({
    addresses: { listen: listen ? ['/p2p-circuit'] : [] },
    transports: [tcp(), circuitRelayTransport()],
    ...base(),
    services: { identify: identify() }
  })
}

/**
 * A plain node without the circuit transport, for speaking hop/stop directly
 */
export async function createRawNode (): Promise<ClientNode> {
  return createLibp2p({
    transports: [tcp()],
    ...base(),
    services: { identify: identify() }
  })
}

export function circuitAddress (node: Libp2p): Multiaddr | undefined {
  return node.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit'))
}

/**
 * Dials the relay and waits until the client advertises a circuit address
 */
export async function reserve (client: Libp2p, relay: TestRelay): Promise<Multiaddr> {
  await client.dial(relay.addr)
  await pWaitFor(() => circuitAddress(client) != null, { timeout: 10_000 })

  return circuitAddress(client)!
}

/**
 * Opens a hop stream to the relay and sends `request`; returns the stream with
 * its protobuf reader still attached
 */
export async function hopStream (node: Libp2p, relayAddr: Multiaddr, request: HopMessage): Promise<{ stream: Stream, response: HopMessage }> {
  const stream = await node.dialProtocol(relayAddr, RELAY_V2_HOP_CODEC)
  const pb = pbStream(stream).pb(HopMessage)
  await pb.write(request)
  const response = await pb.read()

  return { stream: pb.unwrap().unwrap(), response }
}

/**
 * Sends one hop request and returns the relay's answer
 */
export async function hopRequest (node: Libp2p, relayAddr: Multiaddr, request: HopMessage): Promise<HopMessage> {
  const { stream, response } = await hopStream(node, relayAddr, request)
  await stream.close().catch(() => {})

  return response
}

export function connectRequest (peer: PeerId): HopMessage {
  return { type: HopMessage.Type.CONNECT, peer: { id: peer.toMultihash().bytes as Uint8Array<ArrayBuffer>, addrs: [] } }
}

export async function handleEcho (node: Libp2p): Promise<void> {
  await node.handle(ECHO, async (stream) => { await echo(stream) }, { runOnLimitedConnection: true })
}

/**
 * Counts what arrives until the remote closes, then answers with the count
 */
export async function handleSink (node: Libp2p): Promise<void> {
  await node.handle(SINK, async (stream) => {
    let received = 0

    for await (const buf of stream) {
      received += buf.byteLength
    }

    stream.send(new TextEncoder().encode(`${received}`))
    await stream.close()
  }, { runOnLimitedConnection: true })
}

export async function readAll (stream: Stream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []

  for await (const buf of stream) {
    chunks.push(buf.subarray())
  }

  return Uint8Array.from(chunks.flatMap(c => [...c]))
}

export async function sendAll (stream: Stream, total: number, chunk: Uint8Array): Promise<void> {
  for (let sent = 0; sent < total; sent += chunk.byteLength) {
    if (!stream.send(chunk)) {
      await stream.onDrain()
    }
  }
}

export async function nextEvent<K extends keyof RelayServerEvents> (relay: TestRelay, type: K): Promise<RelayServerEvents[K]> {
  return pEvent(relay.relay, type) as unknown as Promise<RelayServerEvents[K]>
}

/**
 * Registers hooks in the calling `describe` that stop every node it made
 */
export function useNodes (): {
  track<T extends Libp2p>(node: Promise<T>): Promise<T>
  relayWith(...args: Parameters<typeof createRelay>): Promise<TestRelay>
} {
  let nodes: Libp2p[] = []

  beforeEach(() => {
    nodes = []
  })

  afterEach(async () => {
    await stopNodes(nodes)
  })

  return {
    async track (node) {
      const n = await node
      nodes.push(n)
      return n
    },
    async relayWith (...args) {
      const relay = await createRelay(...args)
      nodes.push(relay.node)
      return relay
    }
  }
}
