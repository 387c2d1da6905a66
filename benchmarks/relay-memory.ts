/**
 * Relay memory while one circuit carries a lot of data: the relay program
 * against a stock circuitRelayServer, each in its own process, measured from
 * /proc/<pid>/status (VmRSS) while the transfer runs and after it ends, and
 * what the relay still holds after a full GC (heap used + external, from its
 * memory hook, `relay/debug.ts`) before and after: RSS that grows while the
 * held memory stays flat is V8 and malloc keeping pages, not data.
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { byteStream } from '@libp2p/utils'
import { pEvent } from 'p-event'
import { TS_NODE_ARGS, childEnv, track } from '../test/fixtures/children.ts'
import { jsonLineChild } from '../test/fixtures/json-lines.ts'
import { waitForCircuitAddress } from '../test/fixtures/options.ts'
import { RELAY_BIN, RELAY_NODE_FLAGS, tempKeyFile } from '../test/fixtures/relay-process.ts'
import { createStockNode } from '../test/fixtures/stock-node.ts'
import { memory, residentBytes } from './capacity.ts'
import type { JsonLineChild } from '../test/fixtures/json-lines.ts'
import type { ChildProcess } from 'node:child_process'

const SINK_PROTOCOL = '/relaymesh-bench/sink/1.0.0'
const CHUNK = 64 * 1024
const MiB = 1024 * 1024

export interface RelayMemoryResult {
  relay: 'relaymesh' | 'stock'
  bytes: number
  seconds: number
  mbPerSecond: number
  rssBeforeMiB: number
  rssPeakMiB: number
  rssAfterMiB: number
  /** heap used + external after a full GC, before the transfer */
  heldBeforeMiB: number
  /** the same once the circuit has closed */
  heldAfterMiB: number
  /** resident bytes of the C heap's main arena (malloc) after a full GC, before the transfer */
  mallocBeforeMiB: number
  /** the same after it: freed memory glibc keeps shows here */
  mallocAfterMiB: number
}

interface RelayLine {
  event: string
  multiaddrs?: string[]
  heapUsed?: number
  external?: number
  rssBrk?: number
}

async function rssMiB (pid: number): Promise<number> {
  return (await residentBytes(pid)) / MiB
}

async function startRelay (kind: 'relaymesh' | 'stock'): Promise<{ proc: ChildProcess, lines: JsonLineChild<RelayLine>, addr: string }> {
  const args = kind === 'relaymesh'
    ? [...RELAY_NODE_FLAGS, ...TS_NODE_ARGS, RELAY_BIN, '--port', '0', '--tcp-port', 'off', '--circuit-duration', '0', '--circuit-data', '0', '--max-relayed-bytes-per-second', '0', '--key-file', await tempKeyFile()]
    : [...TS_NODE_ARGS, join(dirname(fileURLToPath(import.meta.url)), 'stock-relay.ts')]
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...childEnv(), RELAYMESH_DEBUG_MEMORY: '1' } })
  track(proc)
  const lines = jsonLineChild<RelayLine>(proc, kind)
  const ready = await lines.waitFor(line => line.event === 'ready')
  const addr = ready.multiaddrs?.find(ma => ma.includes('/ws/'))

  if (addr == null) {
    throw new Error(`${kind} relay announced no WebSocket address: ${JSON.stringify(ready.multiaddrs)}`)
  }

  return { proc, lines, addr }
}

/** heap used + external, and the C heap's resident bytes, of the relay after a full GC (its memory hook) */
async function settled (relay: { proc: ChildProcess, lines: JsonLineChild<RelayLine> }): Promise<{ held: number, malloc: number }> {
  const line = await memory({ pid: relay.proc.pid ?? 0, history: relay.lines.history, waitFor: relay.lines.waitFor })
  return { held: ((line.heapUsed ?? 0) + (line.external ?? 0)) / MiB, malloc: (line.rssBrk ?? 0) / MiB }
}

/**
 * Sends `bytes` through one relayed connection and samples the relay's RSS.
 */
export async function measureRelayMemory (kind: 'relaymesh' | 'stock', bytes: number): Promise<RelayMemoryResult> {
  const relay = await startRelay(kind)
  const listener = await createStockNode([`${relay.addr}/p2p-circuit`])
  const dialer = await createStockNode([])

  try {
    await listener.handle(SINK_PROTOCOL, async (stream) => {
      let received = 0
      for await (const chunk of stream) {
        received += chunk.byteLength
        if (received >= bytes) {
          break
        }
      }
      const reply = new Uint8Array(8)
      new DataView(reply.buffer).setBigUint64(0, BigInt(received))
      stream.send(reply)
      await stream.close()
    }, { runOnLimitedConnection: true })

    const target = await waitForCircuitAddress(listener)
    const connection = await dialer.dial(target)
    const stream = await connection.newStream(SINK_PROTOCOL, { runOnLimitedConnection: true })
    // the baseline is the relay after a full GC: what it holds to start with, not the garbage of its start
    const before = await settled(relay)
    const rssBefore = await rssMiB(relay.proc.pid!)
    let peak = rssBefore
    const sampler = setInterval(() => {
      rssMiB(relay.proc.pid!).then(rss => { peak = Math.max(peak, rss) }, () => {})
    }, 100)

    const start = performance.now()
    const chunk = new Uint8Array(CHUNK).fill(7)

    for (let sent = 0; sent < bytes; sent += CHUNK) {
      if (!stream.send(chunk)) {
        await pEvent(stream, 'drain')
      }
    }

    const ack = await byteStream(stream).read({ bytes: 8 })
    const seconds = (performance.now() - start) / 1000
    clearInterval(sampler)
    const received = Number(new DataView(ack.subarray().buffer, ack.subarray().byteOffset).getBigUint64(0))

    if (received < bytes) {
      throw new Error(`only ${received} of ${bytes} bytes arrived`)
    }

    await connection.close()
    await new Promise(resolve => setTimeout(resolve, 2000))
    const rssAfter = await rssMiB(relay.proc.pid!)
    const after = await settled(relay)

    return {
      relay: kind,
      bytes,
      seconds: round(seconds),
      mbPerSecond: round(bytes / 1e6 / seconds),
      rssBeforeMiB: round(rssBefore),
      rssPeakMiB: round(Math.max(peak, rssAfter)),
      rssAfterMiB: round(rssAfter),
      heldBeforeMiB: round(before.held),
      heldAfterMiB: round(after.held),
      mallocBeforeMiB: round(before.malloc),
      mallocAfterMiB: round(after.malloc)
    }
  } finally {
    await Promise.all([listener.stop(), dialer.stop()])
    relay.proc.kill('SIGTERM')
    await pEvent(relay.proc, 'exit').catch(() => {})
  }
}

function round (n: number): number {
  return Math.round(n * 10) / 10
}

export { MiB }
