/* eslint-env mocha */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { RecordEnvelope } from '@libp2p/peer-record'
import { byteStream, echo, pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { RELAY_V2_HOP_CODEC, RELAY_V2_STOP_CODEC } from '../../relay/server/index.ts'
import { HopMessage, ReservationVoucher, Status, StopMessage } from '../../relay/server/pb/circuit.ts'
import { VOUCHER_DOMAIN } from '../../relay/server/voucher.ts'
import { circuitAddress, connectRequest, createClient, createRawNode, createRelay, hopRequest, hopStream, reserve } from './fixtures.ts'
import type { TestRelay } from './fixtures.ts'
import type { RelayServerEvents } from '../../relay/server/index.ts'
import type { Libp2p, Stream } from '@libp2p/interface'

const ECHO = '/relaymesh-test/echo/1.0.0'
const SINK = '/relaymesh-test/sink/1.0.0'
const KiB = 1024
const MiB = 1024 * KiB

setFlagsFromString('--expose_gc')
const gc: () => void = runInNewContext('gc')

async function handleEcho (node: Libp2p): Promise<void> {
  await node.handle(ECHO, async (stream) => { await echo(stream) }, { runOnLimitedConnection: true })
}

/**
 * Counts what arrives until the remote closes, then answers with the count
 */
async function handleSink (node: Libp2p): Promise<void> {
  await node.handle(SINK, async (stream) => {
    let received = 0

    for await (const buf of stream) {
      received += buf.byteLength
    }

    stream.send(new TextEncoder().encode(`${received}`))
    await stream.close()
  }, { runOnLimitedConnection: true })
}

async function readAll (stream: Stream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []

  for await (const buf of stream) {
    chunks.push(buf.subarray())
  }

  return Uint8Array.from(chunks.flatMap(c => [...c]))
}

async function sendAll (stream: Stream, total: number, chunk: Uint8Array): Promise<void> {
  for (let sent = 0; sent < total; sent += chunk.byteLength) {
    if (!stream.send(chunk)) {
      await stream.onDrain()
    }
  }
}

function nextEvent<K extends keyof RelayServerEvents> (relay: TestRelay, type: K): Promise<RelayServerEvents[K]> {
  return pEvent(relay.relay, type) as unknown as Promise<RelayServerEvents[K]>
}

describe('relay server', function () {
  this.timeout(60_000)
  let nodes: Libp2p[]

  async function track<T extends Libp2p> (node: Promise<T>): Promise<T> {
    const n = await node
    nodes.push(n)
    return n
  }

  async function relayWith (...args: Parameters<typeof createRelay>): Promise<TestRelay> {
    const relay = await createRelay(...args)
    nodes.push(relay.node)
    return relay
  }

  beforeEach(() => {
    nodes = []
  })

  afterEach(async () => {
    await Promise.all(nodes.map(async node => node.stop()))
  })

  it('relays a stock client to another through a reservation, echoing both ways', async () => {
    const relay = await relayWith()
    const [a, b] = await Promise.all([track(createClient()), track(createClient())])
    await handleEcho(b)

    const bAddr = await reserve(b, relay)
    expect(relay.relay.reservationCount).to.equal(1)
    const info = relay.relay.getReservation(b.peerId)
    expect(info?.peer.equals(b.peerId)).to.be.true()
    expect(info?.addr.toString()).to.include('/ip4/127.0.0.1/tcp/')
    expect(info?.expiry.getTime()).to.be.closeTo(Date.now() + 2 * 60 * 60_000, 10_000)
    expect(info?.limit).to.deep.equal({ duration: 120_000, data: 128n * 1024n })
    expect(relay.relay.reservations.map(r => r.peer.toString())).to.deep.equal([b.peerId.toString()])

    const opened = nextEvent(relay, 'relay:opened-circuit')
    const stream = await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
    const circuit = await opened
    expect(circuit.detail.source.equals(a.peerId)).to.be.true()
    expect(circuit.detail.destination.equals(b.peerId)).to.be.true()

    // the client sees the spec's units: seconds and bytes
    const connection = a.getConnections(b.peerId)[0]
    expect(connection.limits?.seconds).to.be.within(119, 120)
    expect(connection.limits?.bytes).to.be.a('bigint')

    const bytes = byteStream(stream)
    const message = Uint8Array.from({ length: 1000 }, (_, i) => i % 256)
    await bytes.write(message)
    expect((await bytes.read({ bytes: message.byteLength })).subarray()).to.equalBytes(message)
    await bytes.write(message.slice(0, 10))
    expect((await bytes.read({ bytes: 10 })).subarray()).to.equalBytes(message.slice(0, 10))
    await stream.close()

    expect(relay.relay.circuitCount).to.equal(1)
    expect(relay.relay.stats.circuitsTotal).to.equal(1)
    expect(await relay.metric('relaymesh_relay_circuits_total')).to.equal(1)
    expect(await relay.metric('relaymesh_relay_reservations')).to.equal(1)
    expect(await relay.metric('relaymesh_relay_bytes_total')).to.be.greaterThan(2020)
  })

  it('answers RESERVE with a signed voucher, the relay addresses and the limits', async () => {
    const relay = await relayWith({ reservationTtl: 60_000, defaultDurationLimit: 1500, defaultDataLimit: 4096 })
    const raw = await track(createRawNode())

    const response = await hopRequest(raw, relay.addr, { type: HopMessage.Type.RESERVE })
    expect(response.type).to.equal(HopMessage.Type.STATUS)
    expect(response.status).to.equal(Status.OK)
    expect(response.limit).to.deep.equal({ duration: 2, data: 4096n })

    const reservation = response.reservation!
    expect(Number(reservation.expire)).to.be.closeTo(Date.now() / 1000 + 60, 2)
    expect(reservation.addrs.map(buf => multiaddr(buf).toString())).to.include(relay.addr.toString())

    const voucher = reservation.voucher!
    const envelope = new RecordEnvelope({
      ...voucher,
      publicKey: relay.node.peerId.publicKey!,
      payload: ReservationVoucher.encode(voucher.payload!)
    })
    expect(await envelope.validate(VOUCHER_DOMAIN)).to.be.true()
    expect(voucher.payloadType).to.equalBytes(Uint8Array.from([0x03, 0x02]))
    expect(voucher.payload?.peer).to.equalBytes(raw.peerId.toMultihash().bytes)
    expect(voucher.payload?.relay).to.equalBytes(relay.node.peerId.toMultihash().bytes)
    expect(voucher.payload?.expiration).to.equal(reservation.expire)

    // renewing keeps one reservation
    expect((await hopRequest(raw, relay.addr, { type: HopMessage.Type.RESERVE })).status).to.equal(Status.OK)
    expect(relay.relay.reservationCount).to.equal(1)
    expect(relay.relay.stats).to.include({ reservationsCreated: 1, reservationsRenewed: 1 })
  })

  it('frees a reservation when the client\'s last direct connection closes', async () => {
    const relay = await relayWith({ maxReservations: 2 })
    const [c1, c2, c3] = await Promise.all([track(createClient()), track(createClient()), track(createClient())])

    await reserve(c1, relay)
    await reserve(c2, relay)
    expect(relay.relay.reservationCount).to.equal(2)

    // a second connection from the same client: closing either one keeps it
    const extra = await c1.dial(relay.addr, { force: true })
    expect(c1.getConnections(relay.node.peerId)).to.have.lengthOf(2)
    await extra.close()
    await pWaitFor(() => relay.node.getConnections(c1.peerId).length === 1)
    expect(relay.relay.getReservation(c1.peerId)).to.be.ok()

    const freed = nextEvent(relay, 'relay:freed-reservation')
    await c1.stop()
    expect((await freed).detail).to.include({ reason: 'disconnected' })
    await c2.stop()
    await pWaitFor(() => relay.relay.reservationCount === 0, { timeout: 5000 })

    await reserve(c3, relay)
    expect(relay.relay.reservationCount).to.equal(1)
    expect(relay.relay.stats).to.include({ reservationsCreated: 3, reservationsFreed: 2 })
    expect(await relay.metric('relaymesh_relay_reservations_freed_total', { reason: 'disconnected' })).to.equal(2)
  })

  it('keeps a reservation when only a relayed connection of the client closes, and refuses reservations over one', async () => {
    // `relay` is reachable both directly and through `outer`
    const outer = await relayWith({ applyDefaultLimit: false })
    const relay = await relayWith({}, {
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0', `${outer.addr.toString()}/p2p/${outer.node.peerId}/p2p-circuit`] },
      transports: [(await import('@libp2p/tcp')).tcp(), circuitRelayTransport()]
    })
    await pWaitFor(() => circuitAddress(relay.node) != null, { timeout: 10_000 })
    const client = await track(createRawNode())

    expect((await hopRequest(client, relay.addr, { type: HopMessage.Type.RESERVE })).status).to.equal(Status.OK)

    const relayed = await client.dial(multiaddr(`${outer.addr.toString()}/p2p/${outer.node.peerId}/p2p-circuit/p2p/${relay.node.peerId}`))
    expect(relayed.remoteAddr.toString()).to.include('/p2p-circuit')

    // a reservation over the relayed connection is denied
    const stream = await relayed.newStream(RELAY_V2_HOP_CODEC, { runOnLimitedConnection: true })
    const hop = pbStream(stream).pb(HopMessage)
    await hop.write({ type: HopMessage.Type.RESERVE })
    expect((await hop.read()).status).to.equal(Status.PERMISSION_DENIED)
    expect(relay.relay.stats.refusals.relayed_connection).to.equal(1)

    await relayed.close()
    await pWaitFor(() => relay.node.getConnections(client.peerId).length === 1)
    expect(relay.relay.getReservation(client.peerId)).to.be.ok()
  })

  it('refuses reservations past maxReservations, per IP and per peer rate, and counts each', async () => {
    const full = await relayWith({ maxReservations: 1 })
    const perIp = await relayWith({ maxReservationsPerIp: 1 })
    const rate = await relayWith({ reservationRateLimit: 2 })
    const [x, y] = await Promise.all([track(createRawNode()), track(createRawNode())])
    const reserveMsg = { type: HopMessage.Type.RESERVE }

    for (const relay of [full, perIp]) {
      expect((await hopRequest(x, relay.addr, reserveMsg)).status).to.equal(Status.OK)
      expect((await hopRequest(y, relay.addr, reserveMsg)).status).to.equal(Status.RESERVATION_REFUSED)
      expect(relay.relay.reservationCount).to.equal(1)
      // the holder can still renew
      expect((await hopRequest(x, relay.addr, reserveMsg)).status).to.equal(Status.OK)
    }

    expect(full.relay.stats.refusals.max_reservations).to.equal(1)
    expect(await full.metric('relaymesh_relay_refusals_total', { reason: 'max_reservations' })).to.equal(1)
    expect(perIp.relay.stats.refusals.reservations_per_ip).to.equal(1)
    expect(await perIp.metric('relaymesh_relay_refusals_total', { reason: 'reservations_per_ip' })).to.equal(1)

    expect((await hopRequest(x, rate.addr, reserveMsg)).status).to.equal(Status.OK)
    expect((await hopRequest(x, rate.addr, reserveMsg)).status).to.equal(Status.OK)
    expect((await hopRequest(x, rate.addr, reserveMsg)).status).to.equal(Status.RESERVATION_REFUSED)
    expect(rate.relay.stats.refusals.rate_limit).to.equal(1)
    expect(await rate.metric('relaymesh_relay_refusals_total', { reason: 'rate_limit' })).to.equal(1)
    // a refused renewal leaves the reservation in place
    expect(rate.relay.reservationCount).to.equal(1)
  })

  it('refuses CONNECT without a reservation and past maxCircuitsPerPeer', async () => {
    const relay = await relayWith({ maxCircuitsPerPeer: 1 })
    const [a, b] = await Promise.all([track(createClient()), track(createClient())])
    const [x, nobody] = await Promise.all([track(createRawNode()), track(createRawNode())])
    await handleEcho(b)
    const bAddr = await reserve(b, relay)

    expect((await hopRequest(x, relay.addr, connectRequest(nobody.peerId))).status).to.equal(Status.NO_RESERVATION)
    expect(relay.relay.stats.refusals.no_reservation).to.equal(1)

    await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
    expect(relay.relay.circuitCount).to.equal(1)

    expect((await hopRequest(x, relay.addr, connectRequest(b.peerId))).status).to.equal(Status.RESOURCE_LIMIT_EXCEEDED)
    expect(relay.relay.stats.refusals.circuits_per_peer).to.equal(1)
    expect(await relay.metric('relaymesh_relay_refusals_total', { reason: 'circuits_per_peer' })).to.equal(1)
  })

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
    await pWaitFor(() => connection.status === 'closed', { timeout: 5000 })
  })

  it('relays 200 MiB through one circuit with flat memory', async function () {
    this.timeout(180_000)
    const relay = await relayWith({ applyDefaultLimit: false })
    const [a, b] = await Promise.all([track(createClient()), track(createClient())])
    await handleSink(b)
    const bAddr = await reserve(b, relay)
    const total = 200 * MiB

    const stream = await a.dialProtocol(bAddr, SINK, { runOnLimitedConnection: true })
    expect(a.getConnections(b.peerId)[0].limits).to.be.undefined()

    gc()
    const before = process.memoryUsage()
    await sendAll(stream, total, new Uint8Array(64 * KiB).fill(7))
    await stream.close()
    const reply = new TextDecoder().decode(await readAll(stream))
    gc()
    const after = process.memoryUsage()

    expect(Number(reply)).to.equal(total)
    expect(relay.relay.stats.bytesRelayed).to.be.greaterThan(total)
    expect(after.rss - before.rss).to.be.lessThan(64 * MiB, `rss grew by ${((after.rss - before.rss) / MiB).toFixed(1)} MiB`)
    expect(after.external - before.external).to.be.lessThan(64 * MiB, `external grew by ${((after.external - before.external) / MiB).toFixed(1)} MiB`)
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

    // push up to 32 MiB; without backpressure the relay would take it all
    const total = 32 * MiB
    const chunkSize = 64 * KiB
    let sent = 0
    let stalled = false

    while (sent < total) {
      const chunk = new Uint8Array(chunkSize).fill((sent / chunkSize) % 256)

      if (!stream.send(chunk)) {
        try {
          await stream.onDrain({ signal: AbortSignal.timeout(1000) })
        } catch {
          stalled = true
          sent += chunkSize
          break
        }
      }

      sent += chunkSize
    }

    expect(stalled).to.be.true()
    expect(sent).to.be.lessThan(16 * MiB)

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

    while (sent < total) {
      const chunk = new Uint8Array(chunkSize).fill((sent / chunkSize) % 256)

      if (!stream.send(chunk)) {
        await stream.onDrain()
      }

      sent += chunkSize
    }

    await done.promise
    expect(wrong).to.equal(0)
    expect(relay.relay.stats.bytesRelayed).to.equal(total)
  })

  it('answers malformed hop messages with MALFORMED_MESSAGE and keeps serving', async () => {
    const relay = await relayWith()
    const raw = await track(createRawNode())

    const malformed = [
      Uint8Array.from([0x02, 0x08, 0x80]), // truncated varint
      Uint8Array.from([0x00]), // no type
      Uint8Array.from([0x80, 0x80, 0x40]) // 1 MiB length prefix
    ]

    for (const bytes of malformed) {
      const stream = await raw.dialProtocol(relay.addr, RELAY_V2_HOP_CODEC)
      stream.send(bytes)
      const response = await pbStream(stream).pb(HopMessage).read()
      expect(response.status).to.equal(Status.MALFORMED_MESSAGE)
      await pWaitFor(() => stream.status !== 'open', { timeout: 5000 })
    }

    expect(relay.relay.stats.refusals.malformed_message).to.equal(3)
    expect(await relay.metric('relaymesh_relay_refusals_total', { reason: 'malformed_message' })).to.equal(3)
    expect(relay.relay.reservationCount).to.equal(0)

    // a connect request with a bad peer id is malformed too
    const bad = await hopRequest(raw, relay.addr, { type: HopMessage.Type.CONNECT, peer: { id: Uint8Array.from([1, 2, 3]), addrs: [] } })
    expect(bad.status).to.equal(Status.MALFORMED_MESSAGE)

    // STATUS is not a request
    expect((await hopRequest(raw, relay.addr, { type: HopMessage.Type.STATUS })).status).to.equal(Status.UNEXPECTED_MESSAGE)

    // and the relay still serves
    const client = await track(createClient())
    await reserve(client, relay)
    expect(relay.relay.reservationCount).to.equal(1)
  })

  it('closes open circuits when stopped', async () => {
    const relay = await relayWith()
    const [a, b] = await Promise.all([track(createClient()), track(createClient())])
    await handleEcho(b)
    const bAddr = await reserve(b, relay)

    await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
    const connection = a.getConnections(b.peerId)[0]
    const closed = nextEvent(relay, 'relay:closed-circuit')

    await relay.relay.stop()

    expect((await closed).detail.error?.name).to.equal('RelayStoppedError')
    expect(relay.relay.circuitCount).to.equal(0)
    expect(relay.relay.reservationCount).to.equal(0)
    await pWaitFor(() => connection.status === 'closed', { timeout: 5000 })
  })
})
