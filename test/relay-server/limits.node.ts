import '../fixtures/datachannel-cleanup.ts'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { pbStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { RELAY_V2_STOP_CODEC } from '../../relay/server/index.ts'
import { HopMessage, Status, StopMessage } from '../../src/circuit/index.ts'
import { ECHO, KiB, MiB, SINK, connectRequest, createClient, createRawNode, handleEcho, handleSink, hopRequest, hopStream, nextEvent, readAll, reserve, sendAll, useNodes } from './fixtures.ts'
import type { Stream } from '@libp2p/interface'

/**
 * V8's collector, exposed at run time so memory is measured after a full GC
 */
const gc: () => void = (() => {
  try {
    setFlagsFromString('--expose_gc')
    return runInNewContext('gc')
  } catch {
    return () => {}
  }
})()

/**
 * Collects garbage until freed array buffers are released too (V8 sweeps them
 * in the background), then reads the memory usage
 */
async function settledMemory (): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise(resolve => setTimeout(resolve, 50))
  }

  return process.memoryUsage()
}

describe('relay server limits', function () {
  this.timeout(60_000)
  const { track, relayWith } = useNodes()

  it('aborts a circuit that passes the data limit', async () => {
    const relay = await relayWith({ defaultDataLimit: 64 * KiB })
    const [a, b] = await Promise.all([track(createClient()), track(createClient())])
    await handleSink(b)
    const bAddr = await reserve(b, relay)

    const stream = await a.dialProtocol(bAddr, SINK, { runOnLimitedConnection: true })
    const closed = nextEvent(relay, 'relay:closed-circuit')
    const connection = a.getConnections(b.peerId)[0]
    const connectionClosed = pEvent(a, 'connection:close', { filter: (evt: CustomEvent) => evt.detail.id === connection.id })

    await sendAll(stream, 256 * KiB, new Uint8Array(8 * KiB)).catch(() => {})

    const { detail } = await closed
    expect(detail.error?.name).to.equal('TransferLimitError')
    expect(detail.sent).to.be.at.most(64 * KiB)
    await connectionClosed
    expect(relay.relay.circuitCount).to.equal(0)
    expect(await relay.metric('relaymesh_relay_circuits_ended_total', { reason: 'TransferLimitError' })).to.equal(1)
  })

  it('aborts a circuit that passes the duration limit', async () => {
    const relay = await relayWith({ defaultDurationLimit: 400 })
    const [a, b] = await Promise.all([track(createClient()), track(createClient())])
    await handleEcho(b)
    const bAddr = await reserve(b, relay)

    const start = Date.now()
    await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
    const connection = a.getConnections(b.peerId)[0]
    expect(connection.limits?.seconds).to.equal(1)

    const { detail } = await nextEvent(relay, 'relay:closed-circuit')
    expect(detail.error?.name).to.equal('DurationLimitError')
    expect(Date.now() - start).to.be.within(350, 5000)
    await pWaitFor(() => connection.status !== 'open', { timeout: 5000 })
  })

  it('relays 400 MiB through one circuit with flat memory', async function () {
    this.timeout(180_000)
    const relay = await relayWith({ applyDefaultLimit: false })
    const [a, b] = await Promise.all([track(createClient()), track(createClient())])
    await handleSink(b)
    const bAddr = await reserve(b, relay)
    const chunk = new Uint8Array(64 * KiB).fill(7)

    async function transfer (total: number): Promise<void> {
      const stream = await a.dialProtocol(bAddr, SINK, { runOnLimitedConnection: true })
      await sendAll(stream, total, chunk)
      await stream.close()
      expect(Number(new TextDecoder().decode(await readAll(stream)))).to.equal(total)
    }

    // one circuit carries everything, with no limits
    await transfer(64 * KiB)
    expect(a.getConnections(b.peerId)).to.have.lengthOf(1)
    expect(a.getConnections(b.peerId)[0].limits).to.be.undefined()

    // let the heap and the allocator reach their working size first: after
    // 64 MiB V8's heap still grew by ~64 MiB of reserved (not used) space
    // over the next 200, and RSS with it (83-108 MiB in 2 of 8 runs)
    await transfer(64 * MiB)
    const before = await settledMemory()
    await transfer(200 * MiB)
    const warm = await settledMemory()
    await transfer(200 * MiB)
    const after = await settledMemory()
    // what the process holds after a full GC: the JS heap in use and buffers
    const live = (m: NodeJS.MemoryUsage): number => (m.heapUsed + m.external) / MiB
    const growth = {
      live: live(after) - live(before),
      rss: (after.rss - warm.rss) / MiB
    }

    expect(relay.relay.stats.circuitsTotal).to.equal(1)
    expect(relay.relay.stats.bytesRelayed).to.be.greaterThan(464 * MiB)
    // stock js-libp2p grows by about as much as it relays (1 GB => 1.26 GB RSS)
    expect(growth.live).to.be.lessThan(16, `heap used and external memory grew by ${growth.live.toFixed(1)} MiB over 400 MiB relayed`)
    // RSS also holds what the allocator keeps of freed memory (-4 to +44 MiB
    // over the second 200 MiB here): a relay that kept half of it would pass 100
    expect(growth.rss).to.be.lessThan(96, `rss grew by ${growth.rss.toFixed(1)} MiB over the second 200 MiB relayed`)
  })

  it('holds the source back while the destination does not read', async function () {
    this.timeout(120_000)
    const relay = await relayWith({ applyDefaultLimit: false })
    const [source, destination] = await Promise.all([track(createRawNode()), track(createRawNode())])
    const stopStream = Promise.withResolvers<Stream>()

    // the destination speaks stop itself and pauses before any data arrives
    await destination.handle(RELAY_V2_STOP_CODEC, async (stream) => {
      const pb = pbStream(stream).pb(StopMessage)
      const request = await pb.read()
      expect(request.type).to.equal(StopMessage.Type.CONNECT)
      expect(request.peer?.id).to.equalBytes(source.peerId.toMultihash().bytes)
      await pb.write({ type: StopMessage.Type.STATUS, status: Status.OK })
      const raw = pb.unwrap().unwrap()
      raw.pause()
      stopStream.resolve(raw)
    }, { runOnLimitedConnection: true })
    expect((await hopRequest(destination, relay.addr, { type: HopMessage.Type.RESERVE })).status).to.equal(Status.OK)

    const { stream, response } = await hopStream(source, relay.addr, connectRequest(destination.peerId))
    expect(response.status).to.equal(Status.OK)
    expect(response.limit).to.be.undefined()
    const sink = await stopStream.promise

    // queue 64 MiB at the source: without backpressure the relay would read
    // all of it; with it, the source keeps all but the muxer windows
    const total = 64 * MiB
    const chunkSize = 64 * KiB

    for (let sent = 0; sent < total; sent += chunkSize) {
      stream.send(new Uint8Array(chunkSize).fill((sent / chunkSize) % 256))
    }

    let retained = -1
    await pWaitFor(async () => {
      const settled = retained === stream.writeBufferLength
      retained = stream.writeBufferLength
      await new Promise(resolve => setTimeout(resolve, 250))
      return settled
    }, { timeout: 20_000 })

    // yamux windows are at most 16 MiB: one on each side of the relay
    expect(retained).to.be.greaterThan(total - 32 * MiB)
    const relayBuffered = relay.node.getConnections()
      .flatMap(conn => conn.streams)
      .reduce((acc, s) => acc + s.readBufferLength + s.writeBufferLength, 0)
    expect(relayBuffered).to.be.lessThan(33 * MiB)

    // once the destination reads, everything arrives in order
    let received = 0
    let wrong = 0
    const done = Promise.withResolvers<void>()
    sink.addEventListener('message', (evt) => {
      for (const byte of evt.data.subarray()) {
        if (byte !== Math.floor(received / chunkSize) % 256) {
          wrong++
        }
        received++
      }
      if (received === total) {
        done.resolve()
      }
    })
    sink.resume()

    await done.promise
    expect(wrong).to.equal(0)
    expect(relay.relay.stats.bytesRelayed).to.equal(total)
  })
})
