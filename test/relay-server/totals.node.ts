import '../fixtures/datachannel-cleanup.ts'
import { tcp } from '@libp2p/tcp'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { BANDWIDTH_SATURATION_MS } from '../../relay/server/bandwidth.ts'
import { ipGroupOf } from '../../relay/server/utils.ts'
import { HopMessage, Status } from '../../src/circuit/index.ts'
import { ECHO, KiB, SINK, connectRequest, createClient, createRawNode, handleEcho, handleSink, hopRequest, readAll, reserve, sendAll, useNodes } from './fixtures.ts'

describe('relay server totals', function () {
  this.timeout(60_000)
  const { track, relayWith } = useNodes()

  it('refuses CONNECT past maxCircuits across all peers, counted as max_circuits, and admits again once one closes', async () => {
    const relay = await relayWith({ maxCircuits: 1 })
    const [a, b, c, d] = await Promise.all([track(createClient(false)), track(createClient()), track(createClient(false)), track(createClient())])
    await Promise.all([handleEcho(b), handleEcho(d)])
    const [bAddr, dAddr] = await Promise.all([reserve(b, relay), reserve(d, relay)])

    await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
    expect(relay.relay.circuitCount).to.equal(1)

    // other peers, each far from its own per-peer cap
    expect((await hopRequest(c, relay.addr, connectRequest(d.peerId))).status).to.equal(Status.RESOURCE_LIMIT_EXCEEDED)
    expect(relay.relay.stats.refusals.max_circuits).to.equal(1)
    expect(await relay.metric('relaymesh_relay_refusals_total', { reason: 'max_circuits' })).to.equal(1)
    await expect(c.dialProtocol(dAddr, ECHO, { runOnLimitedConnection: true })).to.eventually.be.rejected()

    // the slot comes back when the circuit ends
    await a.getConnections(b.peerId)[0].close()
    await pWaitFor(() => relay.relay.circuitCount === 0, { timeout: 5000 })
    await c.dialProtocol(dAddr, ECHO, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
    expect(relay.relay.circuitCount).to.equal(1)
  })

  it('refuses CONNECT past maxCircuitsPerIp, counted as circuits_per_ip (every client here is 127.0.0.1)', async () => {
    const relay = await relayWith({ maxCircuitsPerIp: 2 })
    const [a, b, d] = await Promise.all([track(createClient(false)), track(createClient()), track(createClient())])
    const x = await track(createRawNode())
    await Promise.all([handleEcho(b), handleEcho(d)])
    const [bAddr, dAddr] = await Promise.all([reserve(b, relay), reserve(d, relay)])

    // a circuit between two peers of one IP counts once for it
    await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
    await a.dialProtocol(dAddr, ECHO, { runOnLimitedConnection: true })
    expect(relay.relay.circuitCount).to.equal(2)

    expect((await hopRequest(x, relay.addr, connectRequest(d.peerId))).status).to.equal(Status.RESOURCE_LIMIT_EXCEEDED)
    expect(relay.relay.circuitCount).to.equal(2)
    expect(relay.relay.stats.refusals.circuits_per_ip).to.equal(1)
    expect(await relay.metric('relaymesh_relay_refusals_total', { reason: 'circuits_per_ip' })).to.equal(1)
  })

  it('holds all circuits together to maxRelayedBytesPerSecond; one saturating circuit does not make it refuse CONNECT', async () => {
    const budget = 256 * KiB
    const relay = await relayWith({ maxRelayedBytesPerSecond: budget, applyDefaultLimit: false })
    const [a, b] = await Promise.all([track(createClient(false)), track(createClient())])
    const x = await track(createRawNode())
    await handleSink(b)
    const bAddr = await reserve(b, relay)
    const total = 5 * budget // 1.25 MiB

    const stream = await a.dialProtocol(bAddr, SINK, { runOnLimitedConnection: true })
    const start = Date.now()
    const sent = (async () => {
      await sendAll(stream, total, new Uint8Array(16 * KiB).fill(1))
      await stream.close()
      return Number(new TextDecoder().decode(await readAll(stream)))
    })()

    // the transfer waits for the budget, and others still get circuits
    await pWaitFor(() => relay.relay.stats.bytesRelayed > budget, { timeout: 20_000, interval: 10 })
    expect((await hopRequest(x, relay.addr, connectRequest(b.peerId))).status).to.equal(Status.OK)
    expect(relay.relay.stats.refusals.bandwidth).to.equal(0)

    expect(await sent).to.equal(total)
    const elapsed = Date.now() - start
    // a one-second burst, then 256 KiB/s: at least 4 s for 1.25 MiB (loopback alone: well under 1 s)
    expect(elapsed).to.be.within(3500, 30_000)
    expect(relay.relay.stats.bytesRelayed).to.be.at.least(total)
  })

  it('refuses CONNECT, counted as bandwidth, once the budget has been saturated for BANDWIDTH_SATURATION_MS', async () => {
    const budget = 16 * KiB
    const relay = await relayWith({ maxRelayedBytesPerSecond: budget, applyDefaultLimit: false })
    const b = await track(createClient())
    const senders = await Promise.all(Array.from({ length: 4 }, async () => track(createClient(false))))
    const x = await track(createRawNode())
    await handleSink(b)
    const bAddr = await reserve(b, relay)

    // four circuits push 1 MiB through 16 KiB/s
    const began = performance.now()
    const streams = await Promise.all(senders.map(async s => s.dialProtocol(bAddr, SINK, { runOnLimitedConnection: true })))
    const pushing = streams.map(async stream => sendAll(stream, 256 * KiB, new Uint8Array(16 * KiB).fill(1)).catch(() => {}))

    await pWaitFor(async () => (await hopRequest(x, relay.addr, connectRequest(b.peerId))).status === Status.RESOURCE_LIMIT_EXCEEDED, { timeout: 30_000, interval: 200 })
    expect(performance.now() - began).to.be.at.least(BANDWIDTH_SATURATION_MS)
    expect(relay.relay.stats.refusals.bandwidth).to.be.at.least(1)
    expect(await relay.metric('relaymesh_relay_refusals_total', { reason: 'bandwidth' })).to.equal(relay.relay.stats.refusals.bandwidth)

    streams.forEach(stream => { stream.abort(new Error('done')) })
    await Promise.all(pushing)
  })

  it('counts IPv6 addresses by their /64 and IPv4 addresses as they are', () => {
    const cases: Array<[string | undefined, string | undefined]> = [
      ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
      ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
      ['2001:0db8:0001:0002:0000:0000:0000:0009', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['2001:db8:0:0:1::', '2001:db8:0:0::/64'],
      ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
      ['::', '0:0:0:0::/64'],
      ['::ffff:192.0.2.7', '192.0.2.7'],
      ['192.0.2.7', '192.0.2.7'],
      [undefined, undefined]
    ]

    for (const [ip, group] of cases) {
      expect(ipGroupOf(ip), ip).to.equal(group)
    }

    // two hosts of one /64 share a key; the next /64 is another
    expect(ipGroupOf('2001:db8:1:2::1')).to.equal(ipGroupOf('2001:db8:1:2:abcd::99'))
    expect(ipGroupOf('2001:db8:1:2::1')).to.not.equal(ipGroupOf('2001:db8:1:3::1'))
  })

  it('applies per-IP limits to clients reaching it over IPv6 (::1), by /64', async () => {
    const relay = await relayWith({ maxReservationsPerIp: 1 }, {
      addresses: { listen: ['/ip6/::1/tcp/0'] },
      transports: [tcp()]
    })
    expect(relay.addr.toString()).to.match(/^\/ip6\/::1\/tcp\//)
    const [x, y] = await Promise.all([track(createRawNode()), track(createRawNode())])

    expect((await hopRequest(x, relay.addr, { type: HopMessage.Type.RESERVE })).status).to.equal(Status.OK)
    expect((await hopRequest(y, relay.addr, { type: HopMessage.Type.RESERVE })).status).to.equal(Status.RESERVATION_REFUSED)
    expect(relay.relay.stats.refusals.reservations_per_ip).to.equal(1)
    expect(relay.relay.getReservation(x.peerId)?.addr.toString()).to.match(/^\/ip6\/::1\//)
  })
})
