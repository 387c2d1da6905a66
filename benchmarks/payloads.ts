/**
 * Large payloads and presence, all members in this process, through one
 * relay program:
 *
 * - payload throughput: one member sends `mib` MiB of random bytes with
 * `room.send` (in an open room, and in a private room: encrypted), the other
 * reads it block by block; timed from the call to
 * the last block read (hashing and the manifest included), and from the
 * message's arrival. Beside it, a raw libp2p stream over WebRTC between two
 * stock js-libp2p nodes (the same transports, stock `@libp2p/webrtc`),
 * written in 64 KiB chunks as fast as it drains, timed from the
 * first write to the last byte read.
 * - presence latency: in an `n`-member room one member sets its presence
 * `updates` times, 60 ms apart (below the coalescing interval of 50 ms);
 * latency is the receiver's clock minus the time in the value (one clock),
 * at every other member.
 */
import { randomBytes } from 'node:crypto'
import pWaitFor from 'p-wait-for'
import { createMember, waitForFullMesh } from '../test/mesh/fixtures.ts'
import { createStockMeshNode, dialWebRTC, reserve } from './stock-mesh.ts'
import type { Room } from '../src/index.ts'
import type { MeshNode } from '../test/mesh/fixtures.ts'
import type { Stream } from '@libp2p/interface'

const MiB = 1024 * 1024
const SINK = '/relaymesh-bench/sink/1.0.0'

export interface ThroughputRun {
  setup: 'relaymesh payload' | 'relaymesh payload, private room' | 'raw libp2p stream'
  mib: number
  /** from the call (or first write) to the last byte read */
  seconds: number
  mbPerSecond: number
  /** relaymesh: from the message's arrival to the last block read */
  transferSeconds?: number
}

export interface PresenceRun {
  n: number
  updates: number
  /** updates seen per other member (coalescing may merge some) */
  seen: number
  p50: number
  p99: number
  max: number
}

export interface PayloadResults {
  throughput: ThroughputRun[]
  presence: PresenceRun[]
}

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

async function relaymeshThroughput (relay: string, mib: number, secret?: string): Promise<ThroughputRun> {
  const nodes = await Promise.all([0, 1].map(async () => createMember(relay)))

  try {
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join(secret == null ? 'bench-payload' : 'bench-payload-private', { secret })))
    await waitForFullMesh(rooms, nodes, 60_000)
    const data = randomBytes(mib * MiB)
    let arrived = 0
    const done = new Promise<number>((resolve, reject) => {
      rooms[1].addEventListener('message', (evt) => {
        arrived = Date.now()
        void (async () => {
          let bytes = 0

          for await (const block of evt.detail.payload!.read()) {
            bytes += block.byteLength
          }

          resolve(bytes)
        })().catch(reject)
      })
    })
    const started = Date.now()
    await rooms[0].send(data)
    const bytes = await done
    const seconds = (Date.now() - started) / 1000

    if (bytes !== data.byteLength) {
      throw new Error(`read ${bytes} of ${data.byteLength} bytes`)
    }

    return { setup: secret == null ? 'relaymesh payload' : 'relaymesh payload, private room', mib, seconds, mbPerSecond: Number((data.byteLength / 1e6 / seconds).toFixed(1)), transferSeconds: (Date.now() - arrived) / 1000 }
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}

async function rawThroughput (relay: string, mib: number): Promise<ThroughputRun> {
  const [a, b] = await Promise.all([0, 1].map(async () => createStockMeshNode()))

  try {
    const total = mib * MiB
    const done = new Promise<void>((resolve) => {
      void b.handle(SINK, (stream: Stream) => {
        let bytes = 0
        stream.addEventListener('message', (evt) => {
          bytes += evt.data.byteLength

          if (bytes >= total) {
            resolve()
          }
        })
      })
    })
    const addr = await reserve(b, relay)
    await reserve(a, relay)
    const dialed = await dialWebRTC(a, addr)

    if (!dialed.ok) {
      throw new Error(`no WebRTC connection: ${dialed.errors.join('; ')}`)
    }

    const connection = a.getConnections(b.peerId).find(c => c.remoteAddr.toString().includes('/webrtc'))!
    const stream = await connection.newStream(SINK)
    const chunk = randomBytes(64 * 1024)
    const started = Date.now()

    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      if (!stream.send(chunk)) {
        await stream.onDrain()
      }
    }

    await done
    const seconds = (Date.now() - started) / 1000
    await stream.close()
    return { setup: 'raw libp2p stream', mib, seconds, mbPerSecond: Number((total / 1e6 / seconds).toFixed(1)) }
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
}

async function presenceLatency (relay: string, n: number, updates: number): Promise<PresenceRun> {
  const nodes: MeshNode[] = await Promise.all(Array.from({ length: n }, async () => createMember(relay)))

  try {
    const rooms: Room[] = await Promise.all(nodes.map(async node => node.services.mesh.join('bench-presence')))
    await waitForFullMesh(rooms, nodes, 60_000)
    const latencies: number[] = []
    const seen = new Map<Room, number>()

    for (const room of rooms.slice(1)) {
      room.addEventListener('presence', (evt) => {
        const value = evt.detail.value as { t: number } | undefined

        if (value?.t != null) {
          latencies.push(Date.now() - value.t)
          seen.set(room, (seen.get(room) ?? 0) + 1)
        }
      })
    }

    for (let i = 0; i < updates; i++) {
      await rooms[0].setPresence({ t: Date.now(), i })
      await new Promise(resolve => setTimeout(resolve, 60))
    }

    await pWaitFor(() => rooms.slice(1).every(room => (room.presence[0]?.value as { i: number } | undefined)?.i === updates - 1), { timeout: 10_000, interval: 50 })
    return {
      n,
      updates,
      seen: Math.min(...rooms.slice(1).map(room => seen.get(room) ?? 0)),
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      max: Math.max(...latencies)
    }
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}

export async function measurePayloads (relay: string, options: { mib: number, runs: number, presenceMembers: number, presenceUpdates: number }): Promise<PayloadResults> {
  const throughput: ThroughputRun[] = []

  for (let run = 0; run < options.runs; run++) {
    throughput.push(await rawThroughput(relay, options.mib))
    throughput.push(await relaymeshThroughput(relay, options.mib))
    // blocks sealed and opened (AES-256-GCM, WebCrypto) a 64 KiB chunk at a time
    throughput.push(await relaymeshThroughput(relay, options.mib, `bench secret ${run}`))
  }

  return {
    throughput,
    presence: [await presenceLatency(relay, options.presenceMembers, options.presenceUpdates)]
  }
}

export function payloadTables (results: PayloadResults): string {
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
  const of = (setup: ThroughputRun['setup']): ThroughputRun[] => results.throughput.filter(r => r.setup === setup)
  const ours = median(of('relaymesh payload').map(r => r.mbPerSecond))
  const sealed = median(of('relaymesh payload, private room').map(r => r.mbPerSecond))
  const raw = median(of('raw libp2p stream').map(r => r.mbPerSecond))

  return [
    `## Large payload throughput between two members over WebRTC (${results.throughput[0]?.mib ?? 0} MiB, one process)`,
    '',
    '| setup | MB/s | seconds | of which after the message arrived |',
    '| --- | --- | --- | --- |',
    ...results.throughput.map(r => `| ${r.setup} | ${r.mbPerSecond} | ${r.seconds.toFixed(2)} | ${r.transferSeconds?.toFixed(2) ?? ''} |`),
    '',
    `Median relaymesh / raw: ${(ours / raw).toFixed(2)} (target ≥ 0.80); in a private room (encrypted): ${(sealed / raw).toFixed(2)}.`,
    '',
    '## Presence update latency',
    '',
    '| members | updates | seen per member (min) | p50 (ms) | p99 (ms) | max (ms) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...results.presence.map(r => `| ${r.n} | ${r.updates} | ${r.seen} | ${r.p50} | ${r.p99} | ${r.max} |`)
  ].join('\n')
}
