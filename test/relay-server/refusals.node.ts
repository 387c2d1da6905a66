import '../fixtures/datachannel-cleanup.ts'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { HopMessage, Status } from '../../src/circuit/index.ts'
import { ECHO, connectRequest, createClient, createRawNode, handleEcho, hopRequest, reserve, useNodes } from './fixtures.ts'
import type { TestRelay } from './fixtures.ts'
import type { RefusalReason } from '../../relay/server/index.ts'
import type { Libp2p } from '@libp2p/interface'

const RESERVE: HopMessage = { type: HopMessage.Type.RESERVE }

async function reserveStatus (node: Libp2p, relay: TestRelay): Promise<Status | undefined> {
  return (await hopRequest(node, relay.addr, RESERVE)).status
}

/**
 * Asserts that exactly `count` requests were refused, all for `reason`, in
 * the stats and in `relaymesh_relay_refusals_total{reason}`
 */
async function expectRefusals (relay: TestRelay, reason: RefusalReason, count: number): Promise<void> {
  const refusals = relay.relay.stats.refusals
  expect(refusals[reason]).to.equal(count)
  expect(Object.values(refusals).reduce((a, b) => a + b, 0)).to.equal(count, `refusals: ${JSON.stringify(refusals)}`)
  expect(await relay.metric('relaymesh_relay_refusals_total', { reason })).to.equal(count)
}

/**
 * Closes the client's connection to the relay and waits until the relay has
 * freed its reservation
 */
async function leave (node: Libp2p, relay: TestRelay): Promise<void> {
  await node.hangUp(relay.node.peerId)
  await pWaitFor(() => relay.relay.getReservation(node.peerId) == null, { timeout: 5000 })
}

describe('relay server refusals', function () {
  this.timeout(60_000)
  const { track, relayWith } = useNodes()

  it('refuses a reservation past maxReservations and counts it as max_reservations', async () => {
    const relay = await relayWith({ maxReservations: 1 })
    const [x, y] = await Promise.all([track(createRawNode()), track(createRawNode())])

    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    expect(await reserveStatus(y, relay)).to.equal(Status.RESERVATION_REFUSED)
    // the holder still renews
    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    expect(relay.relay.reservations.map(r => r.peer.toString())).to.deep.equal([x.peerId.toString()])
    await expectRefusals(relay, 'max_reservations', 1)
  })

  it('refuses a reservation past maxReservationsPerIp and counts it as reservations_per_ip', async () => {
    const relay = await relayWith({ maxReservationsPerIp: 1 })
    const [x, y] = await Promise.all([track(createRawNode()), track(createRawNode())])

    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    expect(await reserveStatus(y, relay)).to.equal(Status.RESERVATION_REFUSED)
    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    expect(relay.relay.reservationCount).to.equal(1)
    await expectRefusals(relay, 'reservations_per_ip', 1)
  })

  it('never rate-limits renewals of a live reservation, however often', async () => {
    // a short TTL renewed far more often than the rate limit allows
    const relay = await relayWith({ reservationTtl: 10_000, reservationRateLimit: 2 })
    const x = await track(createRawNode())

    for (let i = 0; i < 20; i++) {
      expect(await reserveStatus(x, relay), `request ${i}`).to.equal(Status.OK)
    }

    expect(relay.relay.stats.reservationsCreated).to.equal(1)
    expect(relay.relay.stats.reservationsRenewed).to.equal(19)
    expect(await relay.metric('relaymesh_relay_reservations_renewed_total')).to.equal(19)
    await expectRefusals(relay, 'rate_limit', 0)
  })

  it('rate-limits new reservations per peer and counts them as rate_limit', async () => {
    const relay = await relayWith({ reservationRateLimit: 2 })
    const [x, y] = await Promise.all([track(createRawNode()), track(createRawNode())])

    // reserve, leave (the reservation is freed), come back: two new reservations
    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    await leave(x, relay)
    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    await leave(x, relay)

    // the third within the window is refused, and nothing is held
    expect(await reserveStatus(x, relay)).to.equal(Status.RESERVATION_REFUSED)
    expect(relay.relay.getReservation(x.peerId)).to.be.undefined()
    await expectRefusals(relay, 'rate_limit', 1)

    // the limit is per peer
    expect(await reserveStatus(y, relay)).to.equal(Status.OK)
    expect(relay.relay.stats.reservationsCreated).to.equal(3)
  })

  it('counts a reservation renewed after it expired as new', async () => {
    const relay = await relayWith({ reservationTtl: 300, reservationRateLimit: 1 })
    const x = await track(createRawNode())

    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    await pWaitFor(() => relay.relay.reservationCount === 0, { timeout: 5000 })
    expect(await reserveStatus(x, relay)).to.equal(Status.RESERVATION_REFUSED)
    await expectRefusals(relay, 'rate_limit', 1)
  })

  it('refuses CONNECT to a peer without a reservation and counts it as no_reservation', async () => {
    const relay = await relayWith()
    const [x, nobody] = await Promise.all([track(createRawNode()), track(createRawNode())])

    expect((await hopRequest(x, relay.addr, connectRequest(nobody.peerId))).status).to.equal(Status.NO_RESERVATION)
    expect(relay.relay.circuitCount).to.equal(0)
    await expectRefusals(relay, 'no_reservation', 1)
  })

  it('refuses CONNECT past maxCircuitsPerPeer and counts it as circuits_per_peer', async () => {
    const relay = await relayWith({ maxCircuitsPerPeer: 1 })
    const [a, b] = await Promise.all([track(createClient(false)), track(createClient())])
    const x = await track(createRawNode())
    await handleEcho(b)
    const bAddr = await reserve(b, relay)

    await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
    expect(relay.relay.circuitCount).to.equal(1)

    expect((await hopRequest(x, relay.addr, connectRequest(b.peerId))).status).to.equal(Status.RESOURCE_LIMIT_EXCEEDED)
    expect(relay.relay.circuitCount).to.equal(1)
    await expectRefusals(relay, 'circuits_per_peer', 1)
  })
})
