/**
 * Relay capacity: how many reservations a relay holds at once, how much
 * memory each costs and how fast it admits them. The relay program (its real
 * process, `relay/bin.ts`) and a tuned stock circuitRelayServer
 * (`stock-relay.ts`) each face the same clients: a few processes
 * (`capacity-client.ts`), each starting many light stock nodes that reserve
 * over WebSockets, all on this machine's cores. Memory comes from the relay
 * itself after a full GC (`RELAYMESH_DEBUG_MEMORY`, see `relay/debug.ts`).
 */
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TS_NODE_ARGS, childEnv, track } from '../test/fixtures/children.ts'
import { jsonLineChild } from '../test/fixtures/json-lines.ts'
import { RELAY_BIN, RELAY_NODE_FLAGS, tempKeyFile } from '../test/fixtures/relay-process.ts'
import type { JsonLineChild } from '../test/fixtures/json-lines.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const MiB = 1024 * 1024
const KiB = 1024
/** clock ticks per second in /proc/<pid>/stat (USER_HZ on Linux) */
const TICKS = 100

export type CapacityRelay = 'relaymesh' | 'stock'

export interface CapacityOptions {
  /** clients in all */
  clients: number
  /** client processes they are spread over */
  processes: number
  /** reservations each client process makes at once */
  concurrency: number
  /** how long to wait after the last admission before measuring, in ms */
  settle: number
  /**
   * the clients' connection monitor's shortest ping timeout in ms (libp2p's
   * default when unset: 5 s)
   */
  pingMinTimeout?: number
  /** extra relay program flags */
  relayArgs?: string[]
  /** extra environment for the relay process (e.g. a heap snapshot folder) */
  relayEnv?: NodeJS.ProcessEnv
  /** extra Node flags for the relay process (e.g. `--cpu-prof`) */
  nodeArgs?: string[]
}

export interface CapacityResult {
  relay: CapacityRelay
  clients: number
  processes: number
  /** clients that got a relayed address */
  admitted: number
  failed: number
  /** the most common failure messages, with their counts */
  errors: Record<string, number>
  /** clients whose relay connection closed after they were admitted */
  dropped: number
  /** the longest event loop stall of any client process, in ms */
  clientMaxLagMs: number
  /** reservations the relay held after the settle */
  held: number
  /** connections the relay had open after the settle */
  connections: number
  /** from the start signal to the last admission */
  admissionSeconds: number
  admissionsPerSecond: number
  /** relay CPU time (user + system) over the same span */
  relayCpuSeconds: number
  /**
   * the client processes' CPU time over the same span, all together: they
   * share the relay's 2 cores, so admissions/s is bounded by
   * 2 / (relay + client CPU per admission)
   */
  clientCpuSeconds: number
  /**
   * the relay's CPU use while it holds every reservation after the
   * admissions, in % of one core (the settle: pings both ways, timers)
   */
  relayHoldingCpuPercent: number
  /** per client, from its start to its relayed address: median and 90th percentile */
  reserveMsP50: number
  reserveMsP90: number
  rssBeforeMiB: number
  rssAfterMiB: number
  heapUsedBeforeMiB: number
  heapUsedAfterMiB: number
  heapTotalBeforeMiB: number
  heapTotalAfterMiB: number
  externalBeforeMiB: number
  externalAfterMiB: number
  /** resident bytes of the C heap's main arena (malloc, `[heap]` in smaps) */
  rssBrkBeforeMiB: number
  rssBrkAfterMiB: number
  /** resident bytes of other anonymous mappings (V8's heap pages, large mallocs) */
  rssAnonBeforeMiB: number
  rssAnonAfterMiB: number
  /** RSS growth after compacting collections divided by reservations held */
  kibPerReservation: number
  /**
   * the relay's RSS before the clients and at the end of the settle, each
   * read before the memory hook forces a collection: what the OS sees of a
   * relay left to itself
   */
  rssUnforcedBeforeMiB: number
  rssUnforcedAfterMiB: number
  /** unforced RSS growth divided by reservations held */
  kibPerReservationUnforced: number
}

interface Line {
  event: string
  at?: number
  ms?: number
  holding?: number
  maxLagMs?: number
  rss?: number
  heapUsed?: number
  heapTotal?: number
  external?: number
  rssBrk?: number
  rssAnon?: number
  reservations?: number
  connections?: number
  multiaddrs?: string[]
  error?: string
}

async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // fields after the command name, which is in parentheses and may hold spaces
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

function spawnJson (args: string[], env: NodeJS.ProcessEnv, name: string): JsonLineChild<Line> & { pid: number, kill(signal?: NodeJS.Signals): void } {
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...childEnv(), ...env } })
  track(proc)
  // CAPACITY_LOG_DIR keeps each child's stderr (DEBUG logs) as <dir>/<name>-<pid>.log
  if (process.env.CAPACITY_LOG_DIR != null) {
    proc.stderr.pipe(createWriteStream(join(process.env.CAPACITY_LOG_DIR, `${name}-${proc.pid ?? 0}.log`)))
  }
  return Object.assign(jsonLineChild<Line>(proc, name), {
    pid: proc.pid ?? 0,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => { proc.kill(signal) }
  })
}

/** VmRSS of `pid`, as the OS sees it, with no collection forced */
export async function residentBytes (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * KiB
}

/**
 * The memory line a relay started with `RELAYMESH_DEBUG_MEMORY=1` prints on
 * SIGUSR2, after a full GC (see `relay/debug.ts`)
 */
export async function memory <L extends { event: string }> (relay: { pid: number } & Pick<JsonLineChild<L>, 'history' | 'waitFor'>): Promise<L> {
  const since = relay.history.length
  process.kill(relay.pid, 'SIGUSR2')
  return relay.waitFor(line => line.event === 'memory', 120_000, since)
}

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

function round (n: number): number {
  return Math.round(n * 10) / 10
}

/**
 * The relay program's flags for the benchmark: limits raised so that every
 * client fits, though all come from 127.0.0.1 at once
 */
export function capacityRelayArgs (clients: number): string[] {
  return [
    '--max-reservations', String(clients),
    '--max-reservations-per-ip', String(clients),
    '--max-connections', String(clients + 256),
    '--inbound-per-ip', String(Math.max(clients, 128)),
    // every client process handshakes CAPACITY_CONCURRENCY at once, all from 127.0.0.1
    '--ws-max-unupgraded-per-ip', String(Math.max(clients, 32))
  ]
}

/**
 * Starts `kind`, admits `options.clients` clients and measures it.
 */
export async function measureCapacity (kind: CapacityRelay, options: CapacityOptions): Promise<CapacityResult> {
  const env = { RELAYMESH_DEBUG_MEMORY: '1', ...options.relayEnv }
  const nodeArgs = [...TS_NODE_ARGS, ...(options.nodeArgs ?? [])]
  const relay = kind === 'relaymesh'
    ? spawnJson([...RELAY_NODE_FLAGS, ...nodeArgs, RELAY_BIN, '--port', '0', '--tcp-port', 'off', '--key-file', await tempKeyFile(), ...capacityRelayArgs(options.clients), ...(options.relayArgs ?? [])], env, 'relay')
    : spawnJson([...nodeArgs, join(HERE, 'stock-relay.ts')], env, 'stock-relay')
  const clients: Array<ReturnType<typeof spawnJson>> = []
  const clientsCpu = async (): Promise<number> => (await Promise.all(clients.map(async c => cpuSeconds(c.pid)))).reduce((a, b) => a + b, 0)

  try {
    const ready = await relay.waitFor(line => line.event === 'ready', 30_000)
    const addr = ready.multiaddrs?.find(ma => ma.includes('/ws/')) ?? ''

    for (let i = 0; i < options.processes; i++) {
      const share = Math.floor(options.clients / options.processes) + (i < options.clients % options.processes ? 1 : 0)
      clients.push(spawnJson([...TS_NODE_ARGS, join(HERE, 'capacity-client.ts')], {
        RELAY_ADDR: addr,
        CLIENTS: String(share),
        CONCURRENCY: String(options.concurrency),
        ...(options.pingMinTimeout != null ? { PING_MIN_TIMEOUT: String(options.pingMinTimeout) } : {})
      }, `clients-${i}`))
    }

    await Promise.all(clients.map(async c => c.waitFor(line => line.event === 'ready', 60_000)))
    await new Promise(resolve => setTimeout(resolve, 1000))
    const rssUnforcedBefore = await residentBytes(relay.pid)
    const before = await memory(relay)

    const cpuStart = await cpuSeconds(relay.pid)
    const clientCpuStart = await clientsCpu()
    const start = Date.now()
    clients.forEach(c => { c.send('go') })
    const deadline = 120_000 + options.clients * 200
    await Promise.all(clients.map(async c => c.waitFor(line => line.event === 'done', deadline)))
    const cpuEnd = await cpuSeconds(relay.pid)
    const clientCpuEnd = await clientsCpu()

    const lines = clients.flatMap(c => c.history)
    const reserved = lines.filter(line => line.event === 'reserved')
    const failed = lines.filter(line => line.event === 'failed')
    const last = Math.max(start, ...reserved.map(line => line.at ?? start))
    const admissionSeconds = (last - start) / 1000

    const settleCpuStart = await cpuSeconds(relay.pid)
    await new Promise(resolve => setTimeout(resolve, options.settle))
    const settleCpu = await cpuSeconds(relay.pid) - settleCpuStart
    const rssUnforced = await residentBytes(relay.pid)
    const after = await memory(relay)
    const held = after.reservations ?? 0
    process.stderr.write(`${kind} relay after the settle: ${JSON.stringify(after)}\n`)
    const mib = (n?: number): number => round((n ?? 0) / MiB)

    return {
      relay: kind,
      clients: options.clients,
      processes: options.processes,
      admitted: reserved.length,
      failed: failed.length,
      dropped: lines.filter(line => line.event === 'dropped').length,
      clientMaxLagMs: Math.max(0, ...lines.map(line => line.event === 'done' ? Number(line.maxLagMs ?? 0) : 0)),
      errors: failed.reduce<Record<string, number>>((acc, line) => { const key = String(line.error).slice(0, 120); acc[key] = (acc[key] ?? 0) + 1; return acc }, {}),
      held,
      connections: after.connections ?? 0,
      admissionSeconds: round(admissionSeconds),
      admissionsPerSecond: round(reserved.length / Math.max(admissionSeconds, 0.001)),
      relayCpuSeconds: round(cpuEnd - cpuStart),
      clientCpuSeconds: round(clientCpuEnd - clientCpuStart),
      relayHoldingCpuPercent: round(100 * settleCpu / Math.max(options.settle / 1000, 0.001)),
      reserveMsP50: percentile(reserved.map(line => line.ms ?? 0), 0.5),
      reserveMsP90: percentile(reserved.map(line => line.ms ?? 0), 0.9),
      rssBeforeMiB: mib(before.rss),
      rssAfterMiB: mib(after.rss),
      heapUsedBeforeMiB: mib(before.heapUsed),
      heapUsedAfterMiB: mib(after.heapUsed),
      heapTotalBeforeMiB: mib(before.heapTotal),
      heapTotalAfterMiB: mib(after.heapTotal),
      externalBeforeMiB: mib(before.external),
      externalAfterMiB: mib(after.external),
      rssBrkBeforeMiB: mib(before.rssBrk),
      rssBrkAfterMiB: mib(after.rssBrk),
      rssAnonBeforeMiB: mib(before.rssAnon),
      rssAnonAfterMiB: mib(after.rssAnon),
      rssUnforcedBeforeMiB: mib(rssUnforcedBefore),
      rssUnforcedAfterMiB: mib(rssUnforced),
      kibPerReservationUnforced: round((rssUnforced - rssUnforcedBefore) / KiB / Math.max(held, 1)),
      kibPerReservation: round(((after.rss ?? 0) - (before.rss ?? 0)) / KiB / Math.max(held, 1))
    }
  } finally {
    clients.forEach(c => { c.kill('SIGKILL') })
    await Promise.all(clients.map(async c => c.exited))
    relay.kill('SIGTERM')
    await relay.exited
  }
}

/**
 * The markdown table of capacity results
 */
export function capacityTable (results: CapacityResult[]): string {
  return [
    `## Relay capacity: ${results[0]?.clients ?? 0} light stock clients in ${results[0]?.processes ?? 0} processes reserving over WebSockets, on the relay's 2 cores`,
    '',
    'RSS as the OS sees it (no collection forced), then after a compacting collection (what V8 gives back once the relay goes quiet).',
    '',
    '| relay | held | failed | admission s | admissions/s | relay CPU s | client CPU s | relay CPU holding | reserve ms p50 / p90 | RSS before → after (MiB) | KiB per reservation | compacted RSS before → after (MiB) | compacted KiB per reservation | heap used before → after (MiB) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(r => `| ${r.relay} | ${r.held}/${r.clients} | ${r.failed} | ${r.admissionSeconds} | ${r.admissionsPerSecond} | ${r.relayCpuSeconds} | ${r.clientCpuSeconds} | ${r.relayHoldingCpuPercent} % | ${r.reserveMsP50} / ${r.reserveMsP90} | ${r.rssUnforcedBeforeMiB} → ${r.rssUnforcedAfterMiB} | ${r.kibPerReservationUnforced} | ${r.rssBeforeMiB} → ${r.rssAfterMiB} | ${r.kibPerReservation} | ${r.heapUsedBeforeMiB} → ${r.heapUsedAfterMiB} |`)
  ].join('\n')
}
