/**
 * The stock side of the mesh benchmark: the full mesh formed by hand with
 * stock js-libp2p (WebRTC, WebSockets, circuit relay transport, Noise, Yamux,
 * identify; the connection manager's inbound limits raised as in BASELINE's
 * "tuned" runs). Peer i dials peer j's `/p2p-circuit/webrtc` address for
 * i < j, all at once, retrying a failed dial up to 3 times. Also the time
 * from SIGKILL to `peer:disconnect` of a stock WebRTC peer.
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { FaultTolerance } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { createLibp2p } from 'libp2p'
import pWaitFor from 'p-wait-for'
import { TS_NODE_ARGS, childEnv, track } from '../test/fixtures/children.ts'
import { jsonLineChild } from '../test/fixtures/json-lines.ts'
import type { Libp2p, ServiceMap } from '@libp2p/interface'
import type { ServiceFactoryMap } from 'libp2p'
import type { ChildProcess } from 'node:child_process'

/**
 * One mesh formation.
 */
export interface FormationRun {
  setup: 'relaymesh' | 'stock'
  processes: 'one' | 'per-member'
  n: number
  /** from every node started to every pair direct (null: not within the timeout) */
  ms: number | null
  /** relaymesh: to every pair direct or relayed; stock: to every peer holding a reservation */
  phaseMs?: number | null
  /** pairs direct (WebRTC) at the end */
  direct: number
  /** relaymesh: pairs that ended relayed; stock: pairs without a WebRTC connection after all retries */
  relayed: number
  /** stock: dial attempts made and failed */
  attempts?: number
  failedAttempts?: number
  /**
   * relaymesh, one process: from the last join() returning to every member
   * holding one message sent by every other right after (null: not by the end)
   */
  usableMs?: number | null
  /** one process: pairs of members with a relayed (limited) connection still open 2 s after the end */
  relayedPairsLeft?: number
}

/**
 * The outcome of dialing one peer's `/p2p-circuit/webrtc` address.
 */
export interface DialOutcome {
  ok: boolean
  attempts: number
  errors: string[]
}

/**
 * A stock WebRTC node that listens on '/p2p-circuit' and '/webrtc'; it
 * reserves on a relay once it is connected to one. `services` are added to
 * identify.
 */
export async function createStockMeshNode <S extends ServiceMap = ServiceMap> (services?: ServiceFactoryMap<S>): Promise<Libp2p<S>> {
  return createLibp2p<S>({
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transportManager: { faultTolerance: FaultTolerance.NO_FATAL },
    transports: [
      webSockets(),
      circuitRelayTransport(),
      webRTC({ rtcConfiguration: { iceServers: [], bindAddress: '127.0.0.1' } as RTCConfiguration })
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // every relayed and WebRTC connection carries the relay's IP: the default 5/s per IP would throttle the mesh
    connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1000 },
    services: {
      identify: identify(),
      ...services
    } as unknown as ServiceFactoryMap<S>
  })
}

/**
 * Connects to the relay and waits for a `/p2p-circuit/webrtc` address.
 */
export async function reserve (node: Libp2p, relay: string, timeout = 30_000): Promise<string> {
  await node.dial(multiaddr(relay))
  let addr: string | undefined
  await pWaitFor(() => {
    addr = node.getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit/webrtc/'))
    return addr != null
  }, { timeout, interval: 10 })
  return addr!
}

/**
 * Dials `addr` until a WebRTC connection is open, at most `1 + retries` times.
 */
export async function dialWebRTC (node: Libp2p, addr: string, retries = 3): Promise<DialOutcome> {
  const errors: string[] = []

  for (let attempt = 1; attempt <= 1 + retries; attempt++) {
    try {
      const conn = await node.dial(multiaddr(addr))

      if (WebRTC.matches(conn.remoteAddr)) {
        return { ok: true, attempts: attempt, errors }
      }

      errors.push(`not WebRTC: ${conn.remoteAddr.toString()}`)
    } catch (err: any) {
      errors.push(`${err.name}: ${err.message}`)
    }
  }

  return { ok: false, attempts: 1 + retries, errors }
}

function pairsOf (n: number): Array<[number, number]> {
  const pairs: Array<[number, number]> = []

  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      pairs.push([i, j])
    }
  }

  return pairs
}

function summary (n: number, processes: FormationRun['processes'], ms: number, reservedMs: number, outcomes: DialOutcome[]): FormationRun {
  const direct = outcomes.filter(o => o.ok).length
  const attempts = outcomes.reduce((sum, o) => sum + o.attempts, 0)
  const failed = outcomes.reduce((sum, o) => sum + o.attempts - (o.ok ? 1 : 0), 0)

  return {
    setup: 'stock',
    processes,
    n,
    ms: direct === outcomes.length ? Math.round(ms) : null,
    phaseMs: Math.round(reservedMs),
    direct,
    relayed: outcomes.length - direct,
    attempts,
    failedAttempts: failed
  }
}

/**
 * N stock nodes in this process form the mesh through `relay`.
 */
export async function stockMeshInProcess (relay: string, n: number): Promise<FormationRun> {
  const nodes = await Promise.all(Array.from({ length: n }, async () => createStockMeshNode()))

  try {
    const start = performance.now()
    const addrs = await Promise.all(nodes.map(async node => reserve(node, relay)))
    const reservedMs = performance.now() - start
    const outcomes = await Promise.all(pairsOf(n).map(async ([i, j]) => dialWebRTC(nodes[i], addrs[j])))
    return summary(n, 'one', performance.now() - start, reservedMs, outcomes)
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}

/**
 * A line a stock peer process printed.
 */
export interface StockLine {
  event: string
  peerId?: string
  webrtcAddr?: string
  at?: number
  outcome?: DialOutcome
  [key: string]: unknown
}

/**
 * A stock peer (`stock-mesh-peer.ts`) in its own process.
 */
export interface StockPeerProcess {
  process: ChildProcess
  history: StockLine[]
  /** resolves with the first line from `history[since]` on that matches */
  waitFor(predicate: (line: StockLine) => boolean, timeoutMs?: number, since?: number): Promise<StockLine>
  send(command: string): void
  stop(signal?: NodeJS.Signals): Promise<void>
}

const STOCK_PEER = join(dirname(fileURLToPath(import.meta.url)), 'stock-mesh-peer.ts')

/**
 * Spawns a stock peer; it prints `started`, then `ready` with its WebRTC
 * address once it holds a reservation on `relay`.
 */
export function spawnStockPeer (relay: string): StockPeerProcess {
  const proc = spawn(process.execPath, [...TS_NODE_ARGS, STOCK_PEER], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...childEnv(), RELAY_ADDR: relay } })
  track(proc)
  const { history, waitFor, send, running, exited } = jsonLineChild<StockLine>(proc, 'stock peer')

  return {
    process: proc,
    history,
    waitFor,
    send,
    stop: async (signal = 'SIGTERM') => {
      if (running()) {
        proc.kill(signal)
      }
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  }
}

/**
 * N stock peers, one process each, form the mesh through `relay`. Timed from
 * the last node started (the `started` lines) to the last dial's outcome.
 */
export async function stockMeshProcesses (relay: string, n: number): Promise<FormationRun> {
  const peers = Array.from({ length: n }, () => spawnStockPeer(relay))

  try {
    const ready = await Promise.all(peers.map(async p => p.waitFor(l => l.event === 'ready', 60_000)))
    const started = await Promise.all(peers.map(async p => p.waitFor(l => l.event === 'started')))
    const start = Math.max(...started.map(l => l.at!))
    const reservedAt = Math.max(...ready.map(l => l.at!))
    const dials = pairsOf(n)
    dials.forEach(([i, j]) => { peers[i].send(`dial ${ready[j].webrtcAddr}`) })
    const lines = await Promise.all(dials.map(async ([i, j]) => peers[i].waitFor(l => l.event === 'dialed' && l.peerId === ready[j].peerId, 120_000)))
    const end = Math.max(...lines.map(l => l.at!))
    return summary(n, 'per-member', end - start, reservedAt - start, lines.map(l => l.outcome!))
  } finally {
    await Promise.all(peers.map(async p => p.stop()))
  }
}

/**
 * Time from SIGKILL of a stock WebRTC peer to `peer:disconnect` on the peer
 * that dialed it, `runs` times; the kill comes 0.5-10.5 s after the WebRTC
 * connection opened (a random phase of the connection monitor's 10 s pings).
 */
export async function stockDeadPeer (relay: string, runs: number): Promise<Array<number | null>> {
  const observer = spawnStockPeer(relay)
  const results: Array<number | null> = []

  try {
    await observer.waitFor(l => l.event === 'ready', 60_000)

    for (let run = 0; run < runs; run++) {
      const victim = spawnStockPeer(relay)

      try {
        const ready = await victim.waitFor(l => l.event === 'ready', 60_000)
        const since = observer.history.length
        observer.send(`dial ${ready.webrtcAddr}`)
        const dialed = await observer.waitFor(l => l.event === 'dialed' && l.peerId === ready.peerId, 60_000, since)

        if (dialed.outcome?.ok !== true) {
          results.push(null)
          continue
        }

        await new Promise(resolve => setTimeout(resolve, 500 + Math.random() * 10_000))
        const killedAt = Date.now()
        await victim.stop('SIGKILL')
        const gone = await observer.waitFor(l => l.event === 'peer:disconnect' && l.peerId === ready.peerId, 60_000, since).catch(() => null)
        results.push(gone == null ? null : gone.at! - killedAt)
      } finally {
        await victim.stop('SIGKILL')
      }
    }
  } finally {
    await observer.stop()
  }

  return results
}
