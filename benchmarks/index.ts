/**
 * `npm run bench`: runs each benchmark against relaymesh and a stock js-libp2p
 * setup in the same run, writes JSON and a markdown table to
 * benchmarks/results/ and prints the table.
 *
 * `BENCH=relay-memory,relays` picks benchmarks (default: all);
 * `BENCH=bundle` bundles the browser entry and a stock js-libp2p browser node
 * with esbuild (`bundle-size.ts`, needs a build); when ours is above README.md's
 * `Bundle budget:` line, the results are written and the run then exits 1;
 * `RELAY_MEMORY_BYTES` sets how much one circuit carries (default 1 GiB);
 * `RELAYS_RUNS` sets rounds of the relay selection benchmark (default 5);
 * `MESH_SIZES` (default 3,5,10,20) and `MESH_PROCESS_SIZES` (default 3,5) set
 * the room sizes with all members in one process and with one process per
 * member, `MESH_RUNS` / `MESH_PROCESS_RUNS` their rounds (default 2 / 1),
 * `MESH_DEAD_RUNS` / `MESH_STOCK_DEAD_RUNS` the kills (default 5 / 3) and
 * `MESH_TIMEOUT` the longest wait for a full mesh in ms (default 45000),
 * `MESH_DEAD_LOAD` the share of the machine's cores busy loops keep busy
 * during the kills (default 0, e.g. 0.75), `MESH_DEAD_INIT` (JSON) the
 * killed and observing members' mesh options;
 * `MESH_JOIN_AFTER_RESERVATION=1` makes members join only once they hold a
 * reservation; `MESH_WEBRTC_DIALS` sets the one-process members'
 * `maxParallelWebRTCDials`; `MESSAGES_SIZES` (default 3,10), `MESSAGES_PER_SENDER`
 * (default 100), `MESSAGES_REPLAYS` (default 1000,10000) and
 * `MESSAGES_TIMEOUT` (default 120000) size the room message benchmarks;
 * `LOAD_MEMBERS` (default 5), `LOAD_RATES` (offered deliveries per second,
 * default 2500,5000,10000,20000), `LOAD_SECONDS` (default 4), `LOAD_FLAT_OUT`
 * (messages per member sent at once, default 2000; 0: none), `LOAD_SETTLE`
 * (ms, default 15000) and `LOAD_SETUPS` (default relaymesh,gossipsub) size
 * the load benchmark, one process per member; `CAPACITY_CLIENTS` (default
 * 2000), `CAPACITY_PROCESSES` (client processes, default 4),
 * `CAPACITY_CONCURRENCY` (reservations each makes at once, default 25),
 * `CAPACITY_SETTLE` (ms after the last admission, default 30000),
 * `CAPACITY_PING_MIN_TIMEOUT` (the clients' shortest ping timeout in ms,
 * default 30000; libp2p's is 5000) and
 * `CAPACITY_RELAYS` (default relaymesh,stock) size the relay capacity
 * benchmark; `PAYLOAD_MIB` (default 64), `PAYLOAD_RUNS` (default 3),
 * `PRESENCE_MEMBERS` (default 5) and `PRESENCE_UPDATES` (default 200) size
 * the payload throughput and presence latency benchmark.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRelayProcess } from '../test/fixtures/relay-process.ts'
import { bundleSummary, bundleTable, measureBundle } from './bundle-size.ts'
import { capacityTable, measureCapacity } from './capacity.ts'
import { connectionTable, measureConnection } from './connection.ts'
import { MESH_RELAY_ARGS, measureMesh, meshTables } from './mesh.ts'
import { loadTable, measureLoad } from './message-load.ts'
import { measureMessages, messageTables } from './messages.ts'
import { measurePayloads, payloadTables } from './payloads.ts'
import { MiB, measureRelayMemory } from './relay-memory.ts'
import { measureRelays } from './relays.ts'
import type { CapacityRelay, CapacityResult } from './capacity.ts'
import type { LoadSetup } from './message-load.ts'
import type { RelayTimings } from './relays.ts'

const wanted = (process.env.BENCH ?? 'bundle,connection,relay-memory,capacity,relays,mesh,messages,payloads').split(',')
const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version }
const tables: string[] = []
/** set when a benchmark is over its budget: the run still writes everything, then fails */
let exitCode = 0

function stats (values: number[]): string {
  if (values.length === 0) {
    return 'none'
  }

  const sorted = [...values].sort((a, b) => a - b)
  return `${sorted[Math.floor(sorted.length / 2)]} (${sorted[0]}–${sorted[sorted.length - 1]}, n=${sorted.length})`
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

if (wanted.includes('bundle')) {
  const bundle = await measureBundle()
  results.bundle = bundleSummary(bundle)
  tables.push(bundleTable(bundle))

  if (!bundle.withinBudget) {
    exitCode = 1
  }
}

if (wanted.includes('connection')) {
  const messages = Number(process.env.CONNECTION_MESSAGES ?? 50_000)
  const connection = await measureConnection(messages, Number(process.env.CONNECTION_RUNS ?? 3))
  results.connection = connection
  tables.push(connectionTable(connection, messages))
}

if (wanted.includes('relay-memory')) {
  const bytes = Number(process.env.RELAY_MEMORY_BYTES ?? 1024 * MiB)
  const relayMemory = [await measureRelayMemory('relaymesh', bytes), await measureRelayMemory('stock', bytes)]
  results.relayMemory = relayMemory
  const [ours, stock] = relayMemory
  tables.push([
    `## Relay memory while one circuit carries ${Math.round(bytes / MiB)} MiB`,
    '',
    '| relay | MB/s | RSS before (MiB) | RSS peak (MiB) | RSS after (MiB) | growth (MiB) | held after a full GC, before → after (MiB) | C heap resident after a full GC, before → after (MiB) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...relayMemory.map(r => `| ${r.relay} | ${r.mbPerSecond} | ${r.rssBeforeMiB} | ${r.rssPeakMiB} | ${r.rssAfterMiB} | ${Math.round(r.rssPeakMiB - r.rssBeforeMiB)} | ${r.heldBeforeMiB} → ${r.heldAfterMiB} | ${r.mallocBeforeMiB} → ${r.mallocAfterMiB} |`),
    '',
    `RSS before: right after a full GC. Peak growth, relaymesh / stock: ${((ours.rssPeakMiB - ours.rssBeforeMiB) / Math.max(1, stock.rssPeakMiB - stock.rssBeforeMiB)).toFixed(3)}. Held: heap used + external after a full GC (the relay's memory hook, \`relay/debug.ts\`), before the transfer and once the circuit has closed; RSS that stays grown while that is flat is pages V8 and malloc keep, not data; C heap: the resident part of glibc's main arena (\`rssBrk\`), where freed buffers' pages stay.`
  ].join('\n'))
}

if (wanted.includes('capacity')) {
  const capacity: CapacityResult[] = []

  for (const kind of (process.env.CAPACITY_RELAYS ?? 'relaymesh,stock').split(',').filter(s => s !== '') as CapacityRelay[]) {
    capacity.push(await measureCapacity(kind, {
      clients: Number(process.env.CAPACITY_CLIENTS ?? 2000),
      processes: Number(process.env.CAPACITY_PROCESSES ?? 4),
      concurrency: Number(process.env.CAPACITY_CONCURRENCY ?? 25),
      settle: Number(process.env.CAPACITY_SETTLE ?? 30_000),
      // hundreds of clients share a process and its stalls; one per process would not
      pingMinTimeout: Number(process.env.CAPACITY_PING_MIN_TIMEOUT ?? 30_000)
    }))
  }

  results.capacity = capacity
  tables.push(capacityTable(capacity))
}

if (wanted.includes('relays')) {
  const timings = await measureRelays(Number(process.env.RELAYS_RUNS ?? 5))
  results.relays = timings
  const of = (setup: string): RelayTimings[] => timings.filter(t => t.setup === setup)
  const row = (setup: string): string => {
    const runs = of(setup)
    const failovers = runs.map(r => r.failoverMs).filter((n): n is number => n != null)
    return `| ${setup} | ${stats(runs.map(r => r.firstReservationMs))} | ${stats(failovers)} | ${failovers.length}/${runs.length} |`
  }
  const ratio = (key: 'firstReservationMs' | 'failoverMs'): string => {
    const ours = median(of('relaymesh').map(r => r[key]).filter((n): n is number => n != null))
    const stock = median(of('stock').map(r => r[key]).filter((n): n is number => n != null))
    return Number.isFinite(ours) && Number.isFinite(stock) ? (ours / stock).toFixed(2) : 'n/a'
  }
  tables.push([
    '## Relays: three relay processes on loopback, the node starts knowing one',
    '',
    '| setup | first reservation, ms: median (min–max) | failover after SIGKILL, ms | failed over within 30 s |',
    '| --- | --- | --- | --- |',
    row('relaymesh'),
    row('stock'),
    '',
    `Median ratio relaymesh / stock: first reservation ${ratio('firstReservationMs')}, failover ${ratio('failoverMs')}`
  ].join('\n'))
}

if (wanted.includes('mesh')) {
  const sizes = (name: string, fallback: string): number[] => (process.env[name] ?? fallback).split(',').filter(s => s !== '').map(Number)
  const mesh = await measureMesh({
    sizes: sizes('MESH_SIZES', '3,5,10,20'),
    processSizes: sizes('MESH_PROCESS_SIZES', '3,5'),
    runs: Number(process.env.MESH_RUNS ?? 2),
    processRuns: Number(process.env.MESH_PROCESS_RUNS ?? 1),
    deadRuns: Number(process.env.MESH_DEAD_RUNS ?? 5),
    stockDeadRuns: Number(process.env.MESH_STOCK_DEAD_RUNS ?? 3),
    timeout: Number(process.env.MESH_TIMEOUT ?? 45_000),
    joinAfterReservation: process.env.MESH_JOIN_AFTER_RESERVATION === '1',
    webRTCDials: process.env.MESH_WEBRTC_DIALS == null ? undefined : Number(process.env.MESH_WEBRTC_DIALS),
    deadLoad: Number(process.env.MESH_DEAD_LOAD ?? 0),
    deadMeshInit: process.env.MESH_DEAD_INIT == null || process.env.MESH_DEAD_INIT === '' ? undefined : JSON.parse(process.env.MESH_DEAD_INIT)
  })
  results.mesh = mesh
  tables.push(meshTables(mesh))
}

if (wanted.includes('messages')) {
  const list = (name: string, fallback: string): number[] => (process.env[name] ?? fallback).split(',').filter(s => s !== '').map(Number)
  const relay = await startRelayProcess(MESH_RELAY_ARGS)

  try {
    const messages = await measureMessages(relay.wsAddr, {
      sizes: list('MESSAGES_SIZES', '3,10'),
      perSender: Number(process.env.MESSAGES_PER_SENDER ?? 100),
      replays: list('MESSAGES_REPLAYS', '1000,10000'),
      timeout: Number(process.env.MESSAGES_TIMEOUT ?? 120_000)
    })
    results.messages = messages
    tables.push(messageTables(messages))

    const load = await measureLoad(relay.wsAddr, {
      n: Number(process.env.LOAD_MEMBERS ?? 5),
      loads: list('LOAD_RATES', '2500,5000,10000,20000'),
      seconds: Number(process.env.LOAD_SECONDS ?? 4),
      flatOut: Number(process.env.LOAD_FLAT_OUT ?? 2000),
      size: 1024,
      settle: Number(process.env.LOAD_SETTLE ?? 15_000),
      setups: (process.env.LOAD_SETUPS ?? 'relaymesh,gossipsub').split(',').filter(s => s !== '') as LoadSetup[]
    })
    results.load = load
    tables.push(loadTable(load))
  } finally {
    await relay.stop()
  }
}

if (wanted.includes('payloads')) {
  const relay = await startRelayProcess(MESH_RELAY_ARGS)

  try {
    const payloads = await measurePayloads(relay.wsAddr, {
      mib: Number(process.env.PAYLOAD_MIB ?? 64),
      runs: Number(process.env.PAYLOAD_RUNS ?? 3),
      presenceMembers: Number(process.env.PRESENCE_MEMBERS ?? 5),
      presenceUpdates: Number(process.env.PRESENCE_UPDATES ?? 200)
    })
    results.payloads = payloads
    tables.push(payloadTables(payloads))
  } finally {
    await relay.stop()
  }
}

const table = tables.join('\n\n')
const dir = join(dirname(fileURLToPath(import.meta.url)), 'results')
await mkdir(dir, { recursive: true })
await writeFile(join(dir, 'latest.json'), JSON.stringify(results, null, 2))
await writeFile(join(dir, 'latest.md'), `${table}\n`)
process.stdout.write(`${JSON.stringify(results)}\n\n${table}\n`)
process.exit(exitCode)
