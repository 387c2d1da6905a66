/**
 * One member of the message load benchmark (see `message-load.ts`), in its
 * own process: a relaymesh room member (`SETUP=relaymesh`) or a stock
 * js-libp2p peer running `@libp2p/gossipsub` (`SETUP=gossipsub`), reserved
 * on `RELAY_ADDR`. JSON lines on stdout, commands on stdin:
 *
 * `ready` (peer id, and the WebRTC address for gossipsub) once it runs;
 * `dial <addr>` (gossipsub: the mesh is formed by hand) answers `dialed`;
 * `peers` answers how many other members it reaches directly;
 * `run ID RATE COUNT SIZE` sends COUNT messages of SIZE bytes, RATE per
 * second (0: all at once), each carrying the send call's time and ID, and
 * answers `sent`; `report ID` answers the latency of every message of run
 * ID received (ms, from the send call to the delivery event), when the
 * last arrived and the CPU time used since that run began.
 */
import { gossipsub } from '@libp2p/gossipsub'
import { cleanup } from 'node-datachannel'
import { createMeshNode } from '../src/index.ts'
import { readCommands } from '../test/fixtures/json-lines.ts'
import { testNodeInit } from '../test/fixtures/options.ts'
import { createStockMeshNode, dialWebRTC, reserve } from './stock-mesh.ts'
import type { Room } from '../src/index.ts'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'

const TOPIC = 'load'
const setup = process.env.SETUP ?? 'relaymesh'
const relay = process.env.RELAY_ADDR ?? ''

function print (line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

const now = (): number => performance.timeOrigin + performance.now()

/** per run: latencies received, when the last arrived; CPU at its start */
const runs = new Map<number, { latencies: number[], lastAt: number, cpu: NodeJS.CpuUsage }>()

function run (id: number): { latencies: number[], lastAt: number, cpu: NodeJS.CpuUsage } {
  let entry = runs.get(id)

  if (entry == null) {
    entry = { latencies: [], lastAt: 0, cpu: process.cpuUsage() }
    runs.set(id, entry)
  }

  return entry
}

function received (data: Uint8Array): void {
  const at = now()
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const entry = run(view.getUint32(8))
  entry.latencies.push(at - view.getFloat64(0))
  entry.lastAt = at
}

let node: Libp2p
let send: (data: Uint8Array) => Promise<unknown>
let peers: () => number
let webrtcAddr: string | undefined

if (setup === 'gossipsub') {
  const stock = await createStockMeshNode<{ pubsub: GossipSub }>({ pubsub: gossipsub({ emitSelf: false, allowPublishToZeroTopicPeers: true }) })
  node = stock
  webrtcAddr = await reserve(stock, relay, 60_000)
  stock.services.pubsub.subscribe(TOPIC)
  stock.services.pubsub.addEventListener('message', (evt) => { received(evt.detail.data) })
  send = async (data) => stock.services.pubsub.publish(TOPIC, data)
  peers = () => stock.services.pubsub.getSubscribers(TOPIC).length
} else {
  const mesh = await createMeshNode(testNodeInit({ bootstrap: [relay], relays: { relayCount: 1, discovery: false } }))
  node = mesh
  const room: Room = await mesh.services.mesh.join(TOPIC)
  room.addEventListener('message', (evt) => { received(evt.detail.data) })
  send = async (data) => room.send(data)
  peers = () => room.members.filter(m => m.state === 'direct').length
}

const stop = (): void => {
  setTimeout(() => process.exit(0), 3000).unref()
  void Promise.resolve(node.stop()).catch(() => {}).finally(() => {
    cleanup()
    process.exit(0)
  })
}
process.on('SIGTERM', stop)

async function sendRun (id: number, rate: number, count: number, size: number): Promise<void> {
  run(id)
  const payload = (): Uint8Array => {
    const data = new Uint8Array(size)
    const view = new DataView(data.buffer)
    view.setFloat64(0, now())
    view.setUint32(8, id)
    return data
  }

  if (rate === 0) {
    await Promise.all(Array.from({ length: count }, async () => send(payload())))
    return
  }

  // steady: the messages due by now, every millisecond or so
  const start = now()
  const pending: Array<Promise<unknown>> = []
  let sent = 0

  while (sent < count) {
    const due = Math.min(count, Math.floor((now() - start) * rate / 1000) + 1)

    for (; sent < due; sent++) {
      pending.push(send(payload()))
    }

    await new Promise(resolve => setTimeout(resolve, 1))
  }

  await Promise.all(pending)
}

print({ event: 'ready', peerId: node.peerId.toString(), webrtcAddr })

readCommands((line) => {
  const [command, ...args] = line.split(' ')

  if (command === 'dial') {
    void dialWebRTC(node, args[0]).then(outcome => { print({ event: 'dialed', ok: outcome.ok }) })
  } else if (command === 'peers') {
    print({ event: 'peers', peers: peers() })
  } else if (command === 'run') {
    const [id, rate, count, size] = args.map(Number)
    void sendRun(id, rate, count, size).then(() => { print({ event: 'sent', id }) }, (err: Error) => { print({ event: 'error', message: err.message }) })
  } else if (command === 'report') {
    const entry = run(Number(args[0]))
    const cpu = process.cpuUsage(entry.cpu)
    print({ event: 'report', id: Number(args[0]), latencies: entry.latencies.map(ms => Math.round(ms * 10) / 10), lastAt: entry.lastAt, cpuMicros: cpu.user + cpu.system })
  } else if (command === 'stop') {
    stop()
  }
}, stop)
