/**
 * Many light stock js-libp2p clients in one process, for the capacity
 * benchmark (see `capacity.ts`): each is WebSockets + the circuit relay
 * transport + Noise + Yamux + identify, listening on
 * `<RELAY_ADDR>/p2p-circuit`, so starting it dials the relay and reserves.
 *
 * Prints JSON lines on stdout: `ready` once it has created `CLIENTS` nodes
 * (not started); after `go` on stdin it starts them, `CONCURRENCY` at a time, prints `reserved` (with
 * `at`, ms since the epoch) or `failed` for each, then `done` with the count
 * still holding a relayed address (a client that got none within
 * `RESERVE_TIMEOUT` ms is stopped). `count` prints that count again; SIGTERM,
 * `stop` or the end of stdin end the process without stopping each node
 * (the relay sees the connections drop all the same).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { FaultTolerance } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import pWaitFor from 'p-wait-for'
import { readCommands } from '../test/fixtures/json-lines.ts'
import type { Libp2p } from '@libp2p/interface'

const relayAddr = process.env.RELAY_ADDR ?? ''
const clients = Number(process.env.CLIENTS ?? 100)
const concurrency = Number(process.env.CONCURRENCY ?? 25)
const timeout = Number(process.env.RESERVE_TIMEOUT ?? 120_000)
/** the clients' connection monitor's shortest ping timeout in ms (libp2p's default when unset: 5 s) */
const pingMinTimeout = process.env.PING_MIN_TIMEOUT != null ? Number(process.env.PING_MIN_TIMEOUT) : undefined
const loopDelay = monitorEventLoopDelay({ resolution: 20 })
let maxLagMs = 0
const nodes: Libp2p[] = []
const reservedAt = new WeakMap<Libp2p, number>()

function print (line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`)
}

function holding (node: Libp2p): boolean {
  return node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))
}

/**
 * A client, created (its key made, its services built) but not started:
 * the benchmark times admissions, not client construction, which took as
 * much CPU as the relay's whole admission
 */
async function createClient (): Promise<Libp2p> {
  return createLibp2p({
    start: false,
    addresses: { listen: [`${relayAddr}/p2p-circuit`] },
    // a refused reservation leaves the node without a relayed address instead of failing start()
    transportManager: { faultTolerance: FaultTolerance.NO_FATAL },
    ...(pingMinTimeout != null ? { connectionMonitor: { pingTimeout: { minTimeout: pingMinTimeout } } } : {}),
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
}

async function client (node: Libp2p): Promise<void> {
  const start = Date.now()
  nodes.push(node)
  // a client whose relay connection closes after its reservation has lost it
  node.addEventListener('connection:close', () => {
    if (holding(node) || reservedAt.has(node)) {
      print({ event: 'dropped', afterMs: Date.now() - (reservedAt.get(node) ?? start) })
    }
  })

  try {
    await node.start()
    await pWaitFor(() => holding(node), { timeout, interval: 10 })
    reservedAt.set(node, Date.now())
    print({ event: 'reserved', ms: Date.now() - start })
  } catch (err: any) {
    print({ event: 'failed', error: err.message })
    // a client without a reservation leaves, so the relay holds only reservations
    nodes.splice(nodes.indexOf(node), 1)
    await Promise.resolve(node.stop()).catch(() => {})
  }
}

const created: Libp2p[] = []

async function run (): Promise<void> {
  await Promise.all(Array.from({ length: Math.min(concurrency, clients) }, async () => {
    let node: Libp2p | undefined
    while ((node = created.shift()) != null) {
      await client(node).catch((err: Error) => { print({ event: 'failed', error: err.message }) })
    }
  }))
  print({ event: 'done', holding: nodes.filter(holding).length, maxLagMs })
}

const stop = (): void => { process.exit(0) }
process.on('SIGTERM', stop)

readCommands((line) => {
  if (line === 'go') {
    // the event loop's delay: a loop stalled past the monitor's ping timeout makes its pings time out
    loopDelay.enable()
    setInterval(() => {
      const ms = Math.round(loopDelay.max / 1e6)
      maxLagMs = Math.max(maxLagMs, ms)
      if (ms > 1000) { print({ event: 'lag', maxMs: ms }) }
      loopDelay.reset()
    }, 1000).unref()
    void run()
  } else if (line === 'count') {
    print({ event: 'count', holding: nodes.filter(holding).length, maxLagMs })
  } else if (line === 'stop') {
    stop()
  }
}, stop)

for (let i = 0; i < clients; i++) {
  created.push(await createClient())
}

print({ event: 'ready' })
