/**
 * Room message benchmarks, all members in this process, through one relay
 * program:
 *
 * - broadcast: every member sends `perSender` messages of `size` bytes at
 * once; throughput (deliveries per second until every member has every
 * other's messages) and delivery latency (receiver's clock minus the
 * sender's timestamp, one clock). Beside the same with stock js-libp2p
 * nodes on a hand-formed WebRTC mesh running `@libp2p/gossipsub`.
 * - replay: a member is cut off (connection gater) while another sends N
 * messages; timed from the heal to the last one delivered.
 * - churn: members are cut off and healed in turn while all send; the share
 * of messages every member ends up with (must be 1).
 */
import { gossipsub } from '@libp2p/gossipsub'
import pWaitFor from 'p-wait-for'
import { createPartitionable, isolate, waitForFullMesh } from '../test/mesh/fixtures.ts'
import { createStockMeshNode, dialWebRTC, reserve } from './stock-mesh.ts'
import type { Room, RoomMessage } from '../src/index.ts'
import type { Partitionable } from '../test/mesh/fixtures.ts'
import type { GossipSub } from '@libp2p/gossipsub'

export interface BroadcastRun {
  setup: 'relaymesh' | 'gossipsub'
  n: number
  perSender: number
  size: number
  expected: number
  delivered: number
  /** deliveries per second, from the first send to the last delivery */
  perSecond: number | null
  p50: number | null
  p99: number | null
}

export interface ReplayRun {
  missed: number
  /** from the heal to the last missed message delivered */
  ms: number | null
  /** from the moment the cut-off member has a stream with the sender again to the last delivered */
  afterStream: number | null
}

export interface ChurnRun {
  n: number
  cuts: number
  expected: number
  delivered: number
  ratio: number
}

export interface MessageResults {
  broadcast: BroadcastRun[]
  replay: ReplayRun[]
  churn: ChurnRun[]
}

async function cut (a: Partitionable, b: Partitionable): Promise<void> {
  await Promise.all([a.cut(b.node.peerId), b.cut(a.node.peerId)])
}

function heal (members: Partitionable[]): void {
  members.forEach(m => { m.heal() })
}

async function fullMesh (rooms: Room[], members: Partitionable[]): Promise<void> {
  await waitForFullMesh(rooms, members.map(m => m.node), 60_000)
}

function percentile (sorted: number[], p: number): number | null {
  return sorted.length === 0 ? null : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))])
}

function payload (size: number): Uint8Array {
  return new Uint8Array(size).fill(7)
}

async function oursBroadcast (relay: string, n: number, perSender: number, size: number, timeout: number): Promise<BroadcastRun> {
  const members = await Promise.all(Array.from({ length: n }, async () => createPartitionable(relay)))

  try {
    const rooms = await Promise.all(members.map(async m => m.node.services.mesh.join(`bench-broadcast-${n}`)))
    await fullMesh(rooms, members)
    const latencies: number[] = []
    let delivered = 0
    let last = 0
    rooms.forEach(room => {
      room.addEventListener('message', (evt: CustomEvent<RoomMessage>) => {
        last = Date.now()
        latencies.push(last - evt.detail.timestamp)
        delivered++
      })
    })
    const expected = n * (n - 1) * perSender
    const start = Date.now()
    await Promise.all(rooms.map(async room => Promise.all(Array.from({ length: perSender }, async () => room.send(payload(size))))))
    await pWaitFor(() => delivered >= expected, { timeout, interval: 20 }).catch(() => {})
    latencies.sort((a, b) => a - b)

    return {
      setup: 'relaymesh',
      n,
      perSender,
      size,
      expected,
      delivered,
      perSecond: delivered >= expected ? Math.round(delivered / ((last - start) / 1000)) : null,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99)
    }
  } finally {
    await Promise.all(members.map(async m => m.node.stop()))
  }
}

/**
 * The stock baseline: gossipsub over a WebRTC mesh formed by hand (every
 * pair dialed on `/p2p-circuit/webrtc`), default gossipsub options. The
 * sender's clock is carried in the first 8 bytes.
 */
async function gossipBroadcast (relay: string, n: number, perSender: number, size: number, timeout: number): Promise<BroadcastRun> {
  const nodes = await Promise.all(Array.from({ length: n }, async () => createStockMeshNode<{ pubsub: GossipSub }>({ pubsub: gossipsub({ emitSelf: false, allowPublishToZeroTopicPeers: true }) })))
  const topic = `bench-gossip-${n}`

  try {
    const addrs = await Promise.all(nodes.map(async node => reserve(node, relay)))
    await Promise.all(nodes.flatMap((node, i) => addrs.slice(i + 1).map(async addr => dialWebRTC(node, addr))))
    nodes.forEach(node => { node.services.pubsub.subscribe(topic) })
    await pWaitFor(() => nodes.every(node => node.services.pubsub.getSubscribers(topic).length === n - 1), { timeout: 60_000, interval: 100 })
    // a gossipsub heartbeat (1 s) builds the topic mesh
    await new Promise(resolve => setTimeout(resolve, 2000))
    const latencies: number[] = []
    let delivered = 0
    let last = 0
    nodes.forEach(node => {
      node.services.pubsub.addEventListener('message', (evt) => {
        last = Date.now()
        const view = new DataView(evt.detail.data.buffer, evt.detail.data.byteOffset)
        latencies.push(last - Number(view.getBigUint64(0)))
        delivered++
      })
    })
    const expected = n * (n - 1) * perSender
    const start = Date.now()
    await Promise.all(nodes.map(async node => Promise.all(Array.from({ length: perSender }, async () => {
      const data = payload(size)
      new DataView(data.buffer).setBigUint64(0, BigInt(Date.now()))
      await node.services.pubsub.publish(topic, data)
    }))))
    await pWaitFor(() => delivered >= expected, { timeout, interval: 20 }).catch(() => {})
    latencies.sort((a, b) => a - b)

    return {
      setup: 'gossipsub',
      n,
      perSender,
      size,
      expected,
      delivered,
      perSecond: delivered >= expected ? Math.round(delivered / ((last - start) / 1000)) : null,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99)
    }
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}

async function replay (relay: string, missed: number, timeout: number): Promise<ReplayRun> {
  const members = await Promise.all([0, 1].map(async () => createPartitionable(relay)))

  try {
    const [a, b] = members
    const rooms = await Promise.all(members.map(async m => m.node.services.mesh.join(`bench-replay-${missed}`)))
    await fullMesh(rooms, members)
    let delivered = 0
    rooms[1].addEventListener('message', () => { delivered++ })
    await cut(a, b)
    await pWaitFor(() => rooms[0].members[0]?.route === 'none', { timeout: 20_000, interval: 50 })
    await Promise.all(Array.from({ length: missed }, async () => rooms[0].send(payload(1024))))
    const healed = Date.now()
    let streamAt: number | undefined
    const back = (): void => {
      if (streamAt == null && rooms[1].member(a.node.peerId)?.route !== 'none') {
        streamAt = Date.now()
      }
    }
    rooms[1].addEventListener('member:updated', back)
    rooms[1].addEventListener('member:rejoined', back)
    heal(members)
    let ms: number | null = null
    let afterStream: number | null = null
    await pWaitFor(() => delivered >= missed, { timeout, interval: 1 }).then(() => {
      ms = Date.now() - healed
      afterStream = streamAt == null ? null : Date.now() - streamAt
    }, () => {})
    return { missed, ms, afterStream }
  } finally {
    await Promise.all(members.map(async m => m.node.stop()))
  }
}

/**
 * `n` members each send `perSender` messages (10 every 100 ms) while one
 * member after another is cut off from all others for 1.5 s.
 */
async function churn (relay: string, n: number, perSender: number, timeout: number): Promise<ChurnRun> {
  const members = await Promise.all(Array.from({ length: n }, async () => createPartitionable(relay)))

  try {
    const rooms = await Promise.all(members.map(async m => m.node.services.mesh.join(`bench-churn-${n}`)))
    await fullMesh(rooms, members)
    const seen = rooms.map(() => new Set<string>())
    rooms.forEach((room, i) => {
      room.addEventListener('message', (evt: CustomEvent<RoomMessage>) => { seen[i].add(`${evt.detail.sender}/${evt.detail.seq}`) })
    })
    let cuts = 0
    const state = { sending: true }
    const churning = (async () => {
      for (let i = 0; state.sending; i = (i + 1) % n) {
        await isolate(members, i)
        cuts++
        await new Promise(resolve => setTimeout(resolve, 1500))
        heal(members)
        await new Promise(resolve => setTimeout(resolve, 1500))
      }
    })()
    await Promise.all(rooms.map(async room => {
      for (let sent = 0; sent < perSender; sent += 10) {
        await Promise.all(Array.from({ length: 10 }, async () => room.send(payload(256))))
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }))
    state.sending = false
    await churning
    heal(members)
    const expected = n * (n - 1) * perSender
    const total = (): number => seen.reduce((sum, s) => sum + s.size, 0)
    await pWaitFor(() => total() >= expected, { timeout, interval: 100 }).catch(() => {})
    return { n, cuts, expected, delivered: total(), ratio: Math.round(total() / expected * 10_000) / 10_000 }
  } finally {
    await Promise.all(members.map(async m => m.node.stop()))
  }
}

export interface MessageBenchOptions {
  sizes: number[]
  perSender: number
  replays: number[]
  timeout: number
}

export async function measureMessages (relay: string, options: MessageBenchOptions): Promise<MessageResults> {
  const broadcast: BroadcastRun[] = []

  for (const n of options.sizes) {
    broadcast.push(await oursBroadcast(relay, n, options.perSender, 1024, options.timeout))
    broadcast.push(await gossipBroadcast(relay, n, options.perSender, 1024, options.timeout))
  }

  const replays: ReplayRun[] = []

  for (const missed of options.replays) {
    replays.push(await replay(relay, missed, options.timeout))
  }

  return { broadcast, replay: replays, churn: [await churn(relay, 4, 600, options.timeout)] }
}

export function messageTables (results: MessageResults): string {
  return [
    '## Room messages (1 KiB, every member sends at once, all in one process)',
    '',
    '| setup | members | messages per sender | delivered / expected | deliveries per s | latency p50 (ms) | p99 (ms) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...results.broadcast.map(r => `| ${r.setup} | ${r.n} | ${r.perSender} | ${r.delivered} / ${r.expected} | ${r.perSecond ?? 'not all'} | ${r.p50 ?? '-'} | ${r.p99 ?? '-'} |`),
    '',
    '## Replay after a member was cut off (1 KiB messages)',
    '',
    '| missed | from heal to the last delivered (ms) | from the stream back to the last delivered (ms) |',
    '| --- | --- | --- |',
    ...results.replay.map(r => `| ${r.missed} | ${r.ms ?? 'not all'} | ${r.afterStream ?? '-'} |`),
    '',
    '## Delivery under churn (members cut off in turn for 1.5 s)',
    '',
    '| members | cuts | delivered / expected | ratio |',
    '| --- | --- | --- | --- |',
    ...results.churn.map(r => `| ${r.n} | ${r.cuts} | ${r.delivered} / ${r.expected} | ${r.ratio} |`),
    '',
    'gossipsub has no replay, so it has no figure for the last two.'
  ].join('\n')
}
