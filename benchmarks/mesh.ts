/**
 * Mesh benchmarks: how long a room of N members takes to become a full mesh
 * of direct WebRTC connections through one relay (relaymesh's `mesh`
 * service against the same mesh formed by hand with stock js-libp2p, see
 * `stock-mesh.ts`), and how long a member takes to notice that another was
 * SIGKILLed (`member:unreachable` against stock `peer:disconnect`).
 *
 * Both setups use the relay program with its per-IP and per-peer limits
 * raised, since every client is on 127.0.0.1.
 */
import { availableParallelism } from 'node:os'
import { cleanup } from 'node-datachannel'
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../src/index.ts'
import { startMeshMember } from '../test/fixtures/mesh-member-process.ts'
import { testNodeInit, waitForWebRTCAddress } from '../test/fixtures/options.ts'
import { startRelayProcess } from '../test/fixtures/relay-process.ts'
import { startCpuLoad } from './cpu-load.ts'
import { stockDeadPeer, stockMeshInProcess, stockMeshProcesses } from './stock-mesh.ts'
import type { FormationRun } from './stock-mesh.ts'
import type { MeshInit, Room } from '../src/mesh/index.ts'
import type { MeshMemberProcess } from '../test/fixtures/mesh-member-process.ts'
import type { RelayProcess } from '../test/fixtures/relay-process.ts'

export type { FormationRun } from './stock-mesh.ts'

/**
 * Relay program flags for the mesh benchmarks: every client is 127.0.0.1
 * and each member relays signaling to every other. The DHT keeps every
 * member as a provider of the room (by default at most 8 per key from one
 * IP: the others would be found only through gossip, as on no real network).
 */
export const MESH_RELAY_ARGS = ['--max-reservations', '10000', '--max-reservations-per-ip', '10000', '--max-circuits-per-peer', '256', '--dht-max-providers-per-key-per-ip', '10000']

export interface DetectionRun {
  setup: 'relaymesh' | 'stock'
  event: 'member:unreachable' | 'peer:disconnect'
  /** from SIGKILL to the event on the observer; null: not within 60 s */
  ms: number | null
  /** relaymesh: `member:unreachable` events for the victim before it was killed */
  falseUnreachable?: number
}

export interface MeshResults {
  relay: string
  /** members joined once they held a reservation (else right after start) */
  joinAfterReservation: boolean
  formation: FormationRun[]
  detection: DetectionRun[]
  /** cores' worth of busy loops running during the dead-peer runs (0: none), and the machine's cores */
  deadLoadCores: number
  cores: number
  /** the dead-peer members' mesh options, if not the defaults */
  deadMeshInit?: MeshInit
}

export interface MeshBenchOptions {
  /** member counts with all members in one process */
  sizes: number[]
  /** member counts with one process per member */
  processSizes: number[]
  /** rounds of each formation */
  runs: number
  processRuns: number
  /** kills of a relaymesh member; of a stock peer */
  deadRuns: number
  stockDeadRuns: number
  /** longest wait for a full mesh, ms */
  timeout: number
  /** members join once they hold a reservation instead of at once */
  joinAfterReservation?: boolean
  /** the members' `maxParallelWebRTCDials` (one process only; default: the mesh's default) */
  webRTCDials?: number
  /** share of the machine's cores kept busy during the dead-peer runs (0-1; default 0) */
  deadLoad?: number
  /** the dead-peer members' mesh options (e.g. another `heartbeatInterval`) */
  deadMeshInit?: MeshInit
}

type Pairs = Pick<FormationRun, 'direct' | 'relayed'>

/**
 * Counts pairs by what both sides see: direct when both see 'direct',
 * relayed when either sees 'relayed'.
 */
function countPairs (ids: string[], stateOf: (i: number, peerId: string) => string | undefined): Pairs {
  let direct = 0
  let relayed = 0

  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const states = [stateOf(i, ids[j]), stateOf(j, ids[i])]

      if (states.every(s => s === 'direct')) {
        direct++
      } else if (states.includes('relayed')) {
        relayed++
      }
    }
  }

  return { direct, relayed }
}

function everyPair (ids: string[], stateOf: (i: number, peerId: string) => string | undefined, ok: (state?: string) => boolean): boolean {
  return ids.every((_, i) => ids.every((id, j) => i === j || ok(stateOf(i, id))))
}

const isDirect = (s?: string): boolean => s === 'direct'
const isConnected = (s?: string): boolean => s === 'direct' || s === 'relayed'

/**
 * N relaymesh nodes in this process join one room; timed from the join()
 * calls (all nodes started) to every member seeing every other 'direct'.
 */
async function oursInProcess (relay: string, n: number, timeout: number, joinAfterReservation = false, webRTCDials?: number): Promise<FormationRun> {
  const nodes = await Promise.all(Array.from({ length: n }, async () => createMeshNode(testNodeInit({ bootstrap: [relay], mesh: { maxParallelWebRTCDials: webRTCDials } }))))
  const ids = nodes.map(node => node.peerId.toString())
  const name = `bench-one-${n}-${Math.random().toString(36).slice(2)}`

  try {
    const start = performance.now()
    const rooms: Room[] = await Promise.all(nodes.map(async node => {
      if (joinAfterReservation) {
        await waitForWebRTCAddress(node, timeout)
      }

      return node.services.mesh.join(name)
    }))
    const joinedMs = performance.now() - start
    // time to usable: each member sends one message as soon as all have
    // joined; usable once every member holds every other's (direct, relayed,
    // forwarded or replayed)
    let usableMs: number | null = null
    let received = 0
    const onMessage = (): void => {
      if (++received === n * (n - 1)) {
        usableMs = performance.now() - start - joinedMs
      }
    }
    rooms.forEach(room => { room.addEventListener('message', onMessage) })
    await Promise.all(rooms.map(async (room, i) => room.send(new TextEncoder().encode(`hello from ${i}`))))
    let maps: Array<Map<string, string>> = []
    const stateOf = (i: number, peerId: string): string | undefined => maps[i].get(peerId)
    let connectedMs: number | null = null
    let ms: number | null = null

    await pWaitFor(() => {
      maps = rooms.map(room => new Map(room.members.map(m => [m.peerId.toString(), m.state])))

      if (connectedMs == null && everyPair(ids, stateOf, isConnected)) {
        connectedMs = performance.now() - start
      }

      return everyPair(ids, stateOf, isDirect)
    }, { timeout, interval: 10 }).then(() => {
      ms = performance.now() - start
    }, () => {})

    // give the relayed connections that carried signaling a moment to close,
    // and the messages sent at join up to 15 s to arrive
    await new Promise(resolve => setTimeout(resolve, 2000))
    await pWaitFor(() => usableMs != null, { timeout: 13_000, interval: 50 }).catch(() => {})
    maps = rooms.map(room => new Map(room.members.map(m => [m.peerId.toString(), m.state])))
    const relayedPairs = new Set(nodes.flatMap((node, i) => node.getConnections()
      .filter(conn => conn.limits != null && ids.includes(conn.remotePeer.toString()))
      .map(conn => [ids[i], conn.remotePeer.toString()].sort().join())))

    return { setup: 'relaymesh', processes: 'one', n, ms: round(ms), phaseMs: round(connectedMs), usableMs: round(usableMs), ...countPairs(ids, stateOf), relayedPairsLeft: relayedPairs.size }
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}

/**
 * N relaymesh members, one process each (`mesh-member.ts`), join one room;
 * timed from the last member started to every member seeing every other
 * 'direct', from the members' own event lines.
 */
async function oursProcesses (relay: string, n: number, timeout: number, joinAfterReservation = false): Promise<FormationRun> {
  const name = `bench-procs-${n}-${Math.random().toString(36).slice(2)}`
  const members: MeshMemberProcess[] = []

  try {
    members.push(...await Promise.all(Array.from({ length: n }, async () => startMeshMember({ relay, room: name, verbose: true, joinAfterReservation, timeout: 60_000 }))))
    const ids = members.map(m => m.peerId)
    const start = Math.max(...members.map(m => m.history.find(l => l.event === 'started')?.at ?? 0))
    const maps = members.map(() => new Map<string, string>())
    const stateOf = (i: number, peerId: string): string | undefined => maps[i].get(peerId)
    let connectedAt: number | null = null
    let doneAt: number | null = null

    await new Promise<void>(resolve => {
      const timer = setTimeout(finish, timeout)
      const check = (at: number): void => {
        if (connectedAt == null && everyPair(ids, stateOf, isConnected)) {
          connectedAt = at
        }

        if (everyPair(ids, stateOf, isDirect)) {
          doneAt = at
          finish()
        }
      }
      const listeners = members.map((member, i) => (line: { event: string, peerId?: string, state?: string, at?: number }) => {
        if (line.event.startsWith('member:') && line.peerId != null && line.state != null) {
          maps[i].set(line.peerId, line.state)
          check(line.at ?? Date.now())
        }
      })

      function finish (): void {
        clearTimeout(timer)
        members.forEach((m, i) => m.events.off('line', listeners[i]))
        resolve()
      }

      // replay what arrived while the others were starting, then listen
      members.forEach((m, i) => { m.history.forEach(listeners[i]) })
      members.forEach((m, i) => m.events.on('line', listeners[i]))
    })

    // the final word on each pair
    const finals = await Promise.all(members.map(async m => m.members()))
    finals.forEach((list, i) => { list.forEach(m => maps[i].set(m.peerId, m.state)) })

    return {
      setup: 'relaymesh',
      processes: 'per-member',
      n,
      ms: doneAt == null ? null : doneAt - start,
      phaseMs: connectedAt == null ? null : Math.max(0, connectedAt - start),
      ...countPairs(ids, stateOf)
    }
  } finally {
    await Promise.all(members.map(async m => m.stop()))
  }
}

/**
 * An observer and a victim member in separate processes; the victim is
 * SIGKILLed 0.5-2.5 s after the observer sees it 'direct' (a random phase of
 * the heartbeat); timed to `member:unreachable` on the observer.
 */
async function oursDeadPeer (relay: string, runs: number, joinAfterReservation = false, mesh?: MeshInit): Promise<Array<Pick<DetectionRun, 'ms' | 'falseUnreachable'>>> {
  const room = `bench-dead-${Math.random().toString(36).slice(2)}`
  const observer = await startMeshMember({ relay, room, verbose: true, joinAfterReservation, timeout: 60_000, mesh })
  const results: Array<Pick<DetectionRun, 'ms' | 'falseUnreachable'>> = []

  try {
    for (let run = 0; run < runs; run++) {
      const since = observer.history.length
      const victim = await startMeshMember({ relay, room, joinAfterReservation, timeout: 60_000, mesh })

      try {
        const direct = await observer.waitFor(l => l.peerId === victim.peerId && l.state === 'direct', 60_000, since).catch(() => null)

        if (direct == null) {
          results.push({ ms: null })
          continue
        }

        await new Promise(resolve => setTimeout(resolve, 500 + Math.random() * 2000))
        const killedAt = Date.now()
        await victim.kill()
        const unreachable = (l: { event?: string, peerId?: string }): boolean => l.event === 'member:unreachable' && l.peerId === victim.peerId
        const gone = await observer.waitFor(l => unreachable(l) && l.at! >= killedAt, 60_000, since).catch(() => null)
        // the victim reported unreachable while it ran, before the kill: a
        // false alarm (counted once the observer's lines up to the kill are in;
        // a victim still unreachable at the kill has no event after it)
        const falseUnreachable = observer.history.slice(since).filter(l => unreachable(l) && l.at! < killedAt).length
        results.push({ ms: gone == null ? null : gone.at! - killedAt, falseUnreachable })
      } finally {
        await victim.kill()
      }
    }
  } finally {
    await observer.stop()
  }

  return results
}

function round (n: number | null): number | null {
  return n == null ? null : Math.round(n)
}

async function withRelay <T> (fn: (relay: RelayProcess) => Promise<T>): Promise<T> {
  const relay = await startRelayProcess(MESH_RELAY_ARGS)

  try {
    return await fn(relay)
  } finally {
    await relay.stop('SIGKILL')
  }
}

function progress (run: FormationRun | DetectionRun): void {
  process.stderr.write(`mesh: ${JSON.stringify(run)}\n`)
}

/**
 * Runs the formation rounds (alternating relaymesh and stock, one fresh
 * relay per member count) and then the dead-peer runs.
 */
export async function measureMesh (options: MeshBenchOptions): Promise<MeshResults> {
  const formation: FormationRun[] = []
  const detection: DetectionRun[] = []
  const record = (run: FormationRun): void => { formation.push(run); progress(run) }

  for (const n of options.sizes) {
    await withRelay(async relay => {
      for (let r = 0; r < options.runs; r++) {
        record(await oursInProcess(relay.wsAddr, n, options.timeout, options.joinAfterReservation, options.webRTCDials))
        record(await stockMeshInProcess(relay.wsAddr, n))
      }
    })
  }

  for (const n of options.processSizes) {
    await withRelay(async relay => {
      for (let r = 0; r < options.processRuns; r++) {
        record(await oursProcesses(relay.wsAddr, n, options.timeout, options.joinAfterReservation))
        record(await stockMeshProcesses(relay.wsAddr, n))
      }
    })
  }

  const load = options.deadLoad != null && options.deadLoad > 0 && (options.deadRuns > 0 || options.stockDeadRuns > 0) ? startCpuLoad(options.deadLoad) : undefined

  try {
    await withRelay(async relay => {
      for (const run of await oursDeadPeer(relay.wsAddr, options.deadRuns, options.joinAfterReservation, options.deadMeshInit)) {
        detection.push({ setup: 'relaymesh', event: 'member:unreachable', ...run })
        progress(detection[detection.length - 1])
      }
    })
    await withRelay(async relay => {
      for (const ms of await stockDeadPeer(relay.wsAddr, options.stockDeadRuns)) {
        detection.push({ setup: 'stock', event: 'peer:disconnect', ms })
        progress(detection[detection.length - 1])
      }
    })
  } finally {
    await load?.stop()
  }

  cleanup()
  return { relay: `relay program (relay/bin.ts) ${MESH_RELAY_ARGS.join(' ')}`, joinAfterReservation: options.joinAfterReservation === true, formation, detection, deadLoadCores: load?.cores ?? 0, cores: availableParallelism(), deadMeshInit: options.deadMeshInit }
}

function stats (values: Array<number | null>): string {
  const sorted = values.filter((v): v is number => v != null).sort((a, b) => a - b)

  if (sorted.length === 0) {
    return 'none'
  }

  return `${sorted[Math.floor(sorted.length / 2)]} (${sorted[0]}–${sorted[sorted.length - 1]}, n=${sorted.length})`
}

function median (values: Array<number | null | undefined>): number {
  const sorted = values.filter((v): v is number => v != null).sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

function ratio (ours: number, stock: number): string {
  return Number.isFinite(ours) && Number.isFinite(stock) && stock > 0 ? (ours / stock).toFixed(2) : 'n/a'
}

/**
 * The markdown tables of a mesh benchmark run.
 */
export function meshTables (results: MeshResults): string {
  const rows: string[] = []
  const groups = [...new Set(results.formation.map(r => `${r.processes}:${r.n}`))]

  for (const group of groups) {
    const runs = results.formation.filter(r => `${r.processes}:${r.n}` === group)
    const ours = runs.filter(r => r.setup === 'relaymesh')
    const stock = runs.filter(r => r.setup === 'stock')
    const { n, processes } = runs[0]
    const pairs = n * (n - 1) / 2
    const attempts = stock.reduce((sum, r) => sum + (r.attempts ?? 0), 0)
    const failed = stock.reduce((sum, r) => sum + (r.failedAttempts ?? 0), 0)
    const left = ours.map(r => r.relayedPairsLeft).filter((v): v is number => v != null)

    rows.push([
      '',
      n,
      processes === 'one' ? '1' : `${n} (one each)`,
      stats(ours.map(r => r.ms)),
      `${ours.filter(r => r.ms == null).length}/${ours.length}`,
      stats(ours.map(r => r.phaseMs ?? null)),
      processes === 'one' ? stats(ours.map(r => r.usableMs ?? null)) : '–',
      `${ours.reduce((sum, r) => sum + r.relayed, 0)}/${pairs * ours.length}; not connected ${ours.reduce((sum, r) => sum + pairs - r.direct - r.relayed, 0)}`,
      left.length > 0 ? left.join(', ') : '–',
      stats(stock.map(r => r.ms)),
      stats(stock.map(r => r.phaseMs ?? null)),
      `${failed}/${attempts}${stock.some(r => r.relayed > 0) ? `; pairs never WebRTC ${stock.reduce((sum, r) => sum + r.relayed, 0)}` : ''}`,
      ratio(median(ours.map(r => r.ms)), median(stock.map(r => r.ms))),
      ''
    ].join(' | ').trim())
  }

  const detection = (setup: DetectionRun['setup']): DetectionRun[] => results.detection.filter(d => d.setup === setup)
  const detectionRows = (['relaymesh', 'stock'] as const).map(detection).filter(runs => runs.length > 0).map(runs =>
    `| ${runs[0].setup} | \`${runs[0].event}\` | ${stats(runs.map(r => r.ms))} | ${runs.filter(r => r.ms == null).length}/${runs.length} | ${runs[0].setup === 'relaymesh' ? runs.reduce((sum, r) => sum + (r.falseUnreachable ?? 0), 0) : '–'} |`
  )

  return [
    '## Mesh formation through one relay',
    '',
    `Relay for both setups: ${results.relay}. relaymesh: N \`createMeshNode()\` members join one room${results.joinAfterReservation ? ' (each once it holds a reservation)' : ' right after start'}; timed from every node started to every member seeing every other \`direct\`. Stock: N stock js-libp2p nodes (WebRTC, WebSockets, circuit relay transport, Noise, Yamux, identify; inbound limits raised) connect to the relay, reserve, then peer i dials peer j's \`/p2p-circuit/webrtc\` address for i < j, all at once, up to 3 retries; timed from every node started to every pair holding an open WebRTC connection. One process per member: timed from the last member's node started. Stock uses stock \`@libp2p/webrtc\` 6.0.33, without the dial fixes relaymesh's \`meshWebRTC()\` carries (docs/webrtc-fixes.md).`,
    '',
    '| N | processes | relaymesh: all direct, ms median (min–max, n) | relaymesh: runs not all direct in time | relaymesh: all direct or relayed, ms | relaymesh: usable (every member holds a message from every other, sent at join), ms after the last join | relaymesh: pairs ended relayed | relaymesh: pairs still holding a relayed connection 2 s later | stock: all pairs WebRTC, ms | stock: all reserved, ms | stock: failed dial attempts | median ratio relaymesh / stock |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Dead-peer detection: SIGKILL of a member, observer in another process',
    '',
    `relaymesh: the victim is killed 0.5–2.5 s after the observer sees it \`direct\`${results.deadMeshInit != null ? ` (both with mesh options ${JSON.stringify(results.deadMeshInit)})` : ''}. Stock: two stock WebRTC peers (defaults), the victim is killed 0.5–10.5 s after the WebRTC connection opened.${results.deadLoadCores > 0 ? ` Busy loops asking for ${results.deadLoadCores.toFixed(2)} of the machine's ${results.cores} cores run throughout (\`MESH_DEAD_LOAD\`).` : ''}`,
    '',
    '| setup | event on the observer | kill → event, ms median (min–max, n) | no event within 60 s | relaymesh: `member:unreachable` for the victim before the kill (events, all runs) |',
    '| --- | --- | --- | --- | --- |',
    ...detectionRows,
    '',
    `Median ratio relaymesh / stock: ${ratio(median(detection('relaymesh').map(r => r.ms)), median(detection('stock').map(r => r.ms)))}`
  ].join('\n')
}
