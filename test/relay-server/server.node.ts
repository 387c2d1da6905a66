import '../fixtures/datachannel-cleanup.ts'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { RecordEnvelope } from '@libp2p/peer-record'
import { tcp } from '@libp2p/tcp'
import { byteStream, pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { RELAY_V2_HOP_CODEC } from '../../relay/server/index.ts'
import { VOUCHER_DOMAIN } from '../../relay/server/voucher.ts'
import { HopMessage, ReservationVoucher, Status } from '../../src/circuit/index.ts'
import { ECHO, circuitAddress, createClient, createRawNode, handleEcho, hopRequest, nextEvent, reserve, useNodes } from './fixtures.ts'
// the relay's limits, backpressure and splice suites run with this file
import './limits.node.ts'
import './splice.node.ts'
import './refusals.node.ts'
import './totals.node.ts'
import './ipv6.node.ts'

describe('relay server', function () {
  this.timeout(60_000)
  const { track, relayWith } = useNodes()

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
    // `a` reserves too once it is connected to the relay
    expect(await relay.metric('relaymesh_relay_reservations')).to.equal(relay.relay.reservationCount)
    expect(await relay.metric('relaymesh_relay_bytes_total')).to.be.greaterThan(2020)

    // closing the relayed connection closes both halves of the circuit
    const closed = nextEvent(relay, 'relay:closed-circuit')
    await connection.close()
    const end = (await closed).detail
    expect(end.error).to.be.undefined()
    expect(end.sent).to.be.greaterThan(1010)
    expect(end.received).to.be.greaterThan(1010)
    expect(relay.relay.circuitCount).to.equal(0)
    expect(await relay.metric('relaymesh_relay_circuits_ended_total', { reason: 'closed' })).to.equal(1)
    await pWaitFor(() => b.getConnections(a.peerId).length === 0, { timeout: 5000 })
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

  it('frees a reservation when it expires, and times out silent hop streams', async () => {
    const relay = await relayWith({ reservationTtl: 300, hopTimeout: 300 })
    const raw = await track(createRawNode())

    const freed = nextEvent(relay, 'relay:freed-reservation')
    expect((await hopRequest(raw, relay.addr, { type: HopMessage.Type.RESERVE })).status).to.equal(Status.OK)
    expect((await freed).detail).to.include({ reason: 'expired' })
    expect(relay.relay.reservationCount).to.equal(0)

    const stream = await raw.dialProtocol(relay.addr, RELAY_V2_HOP_CODEC)
    await pWaitFor(() => stream.status !== 'open', { timeout: 5000 })
    expect(relay.relay.stats.refusals.timeout).to.equal(1)
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
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0', `${outer.addr.toString()}/p2p-circuit`] },
      transports: [tcp(), circuitRelayTransport()]
    })
    await pWaitFor(() => circuitAddress(relay.node) != null, { timeout: 10_000 })
    const client = await track(createClient(false))

    expect((await hopRequest(client, relay.addr, { type: HopMessage.Type.RESERVE })).status).to.equal(Status.OK)

    const relayed = await client.dial(multiaddr(`${outer.addr.toString()}/p2p-circuit/p2p/${relay.node.peerId}`), { force: true })
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
    await pWaitFor(() => connection.status !== 'open', { timeout: 5000 })
  })
})
