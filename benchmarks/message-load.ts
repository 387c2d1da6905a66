/**
 * Room messages under load, one process per member (`load-member.ts`):
 * `n` members each send 1 KiB messages at a fixed rate so the room is
 * offered a number of deliveries per second (each message is one delivery
 * at each of the `n - 1` others), then flat out (every member sends its
 * share at once). Per load: the share delivered, latency p50 / p99 from the
 * `send()` call to the delivery event (one clock: the machine's), and CPU µs
 * per delivery (all member processes). Beside the same with stock js-libp2p
 * peers running `@libp2p/gossipsub` on a hand-formed WebRTC mesh.
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pWaitFor from 'p-wait-for'
import { TS_NODE_ARGS, childEnv, track } from '../test/fixtures/children.ts'
import { jsonLineChild } from '../test/fixtures/json-lines.ts'
import type { JsonLineChild } from '../test/fixtures/json-lines.ts'

const MEMBER = join(dirname(fileURLToPath(import.meta.url)), 'load-member.ts')

export type LoadSetup = 'relaymesh' | 'gossipsub'

export interface LoadRun {
  setup: LoadSetup
  n: number
  /** deliveries per second offered; null: flat out */
  offered: number | null
  expected: number
  delivered: number
  /** deliveries per second achieved: delivered, over the time from the first send to the last delivery */
  perSecond: number
  p50: number | null
  p99: number | null
  cpuMicrosPerDelivery: number | null
}

export interface LoadOptions {
  n: number
  /** offered deliveries per second, one run each */
  loads: number[]
  /** seconds each fixed load lasts */
  seconds: number
  /** messages each member sends at once in the flat-out run (0: none) */
  flatOut: number
  size: number
  /** ms to wait for the last deliveries after the last send */
  settle: number
  setups: LoadSetup[]
}

interface Line {
  event: string
  peerId?: string
  webrtcAddr?: string
  ok?: boolean
  peers?: number
  id?: number
  latencies?: number[]
  cpuMicros?: number
  lastAt?: number
  message?: string
}

function spawnMember (relay: string, setup: LoadSetup): { child: JsonLineChild<Line>, stop(): Promise<void> } {
  // LOAD_CPU_PROF=<dir>: each member writes a CPU profile there when it stops
  const profile = process.env.LOAD_CPU_PROF == null ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.LOAD_CPU_PROF}`]
  const proc = spawn(process.execPath, [...TS_NODE_ARGS, ...profile, MEMBER], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...childEnv(), RELAY_ADDR: relay, SETUP: setup } })
  track(proc)
  const child = jsonLineChild<Line>(proc, `${setup} load member`)

  return {
    child,
    stop: async () => {
      child.send('stop')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await child.exited
      clearTimeout(timer)
    }
  }
}

async function ask (child: JsonLineChild<Line>, command: string, event: string, timeout = 60_000): Promise<Line> {
  const since = child.history.length
  child.send(command)
  return child.waitFor(line => line.event === event || line.event === 'error', timeout, since)
}

function percentile (sorted: number[], p: number): number | null {
  return sorted.length === 0 ? null : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] * 10) / 10
}

async function measureSetup (relay: string, setup: LoadSetup, options: LoadOptions, nextId: () => number): Promise<LoadRun[]> {
  const { n } = options
  const members = Array.from({ length: n }, () => spawnMember(relay, setup))
  const runs: LoadRun[] = []

  try {
    const ready = await Promise.all(members.map(async m => m.child.waitFor(l => l.event === 'ready', 90_000)))

    if (setup === 'gossipsub') {
      await Promise.all(members.flatMap((m, i) => ready.slice(i + 1).map(async r => ask(m.child, `dial ${r.webrtcAddr}`, 'dialed', 120_000))))
    }

    // every member reaches every other (gossipsub: in its topic mesh)
    await pWaitFor(async () => (await Promise.all(members.map(async m => ask(m.child, 'peers', 'peers')))).every(l => l.peers === n - 1), { timeout: 120_000, interval: 500 })
    // a gossipsub heartbeat (1 s) settles the topic mesh; relaymesh prunes relayed connections after 1 s
    await new Promise(resolve => setTimeout(resolve, 2000))

    const plan: Array<{ offered: number | null, rate: number, count: number }> = options.loads.map(offered => {
      const rate = offered / (n * (n - 1))
      return { offered, rate, count: Math.round(rate * options.seconds) }
    })

    if (options.flatOut > 0) {
      plan.push({ offered: null, rate: 0, count: options.flatOut })
    }

    for (const { offered, rate, count } of plan) {
      const id = nextId()
      const start = Date.now()
      await Promise.all(members.map(async m => ask(m.child, `run ${id} ${rate} ${count} ${options.size}`, 'sent', 300_000)))
      const expected = n * (n - 1) * count
      let delivered = 0
      let reports: Line[] = []
      const deadline = Date.now() + options.settle

      // until every delivery is in, or the settle time is over
      while (true) {
        reports = await Promise.all(members.map(async m => ask(m.child, `report ${id}`, 'report')))
        delivered = reports.reduce((sum, r) => sum + (r.latencies?.length ?? 0), 0)

        if (delivered >= expected || Date.now() > deadline) {
          break
        }

        await new Promise(resolve => setTimeout(resolve, 250))
      }

      const latencies = reports.flatMap(r => r.latencies ?? []).sort((a, b) => a - b)
      const cpu = reports.reduce((sum, r) => sum + (r.cpuMicros ?? 0), 0)
      const elapsed = (Math.max(...reports.map(r => r.lastAt ?? 0)) - start) / 1000
      runs.push({
        setup,
        n,
        offered,
        expected,
        delivered,
        perSecond: Math.round(delivered / elapsed),
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
        cpuMicrosPerDelivery: delivered > 0 ? Math.round(cpu / delivered) : null
      })
      // let queues drain before the next load
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
  } finally {
    await Promise.all(members.map(async m => m.stop()))
  }

  return runs
}

/**
 * Runs each setup through every load, one after the other.
 */
export async function measureLoad (relay: string, options: LoadOptions): Promise<LoadRun[]> {
  const ids = { next: 0 }
  const nextId = (): number => ++ids.next
  const runs: LoadRun[] = []

  for (const setup of options.setups) {
    runs.push(...await measureSetup(relay, setup, options, nextId))
  }

  return runs
}

/**
 * The load runs as a markdown table.
 */
export function loadTable (runs: LoadRun[]): string {
  const rows = runs.map(r => `| ${r.setup} | ${r.n} | ${r.offered ?? 'flat out'} | ${r.delivered} / ${r.expected} (${(r.delivered / r.expected * 100).toFixed(1)} %) | ${r.perSecond} | ${r.p50 ?? '-'} | ${r.p99 ?? '-'} | ${r.cpuMicrosPerDelivery ?? '-'} |`)
  return [
    '| setup | members (one process each) | offered deliveries/s | delivered | deliveries/s | p50 ms | p99 ms | CPU µs / delivery |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows
  ].join('\n')
}
