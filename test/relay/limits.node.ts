import '../fixtures/datachannel-cleanup.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { HopMessage, Status } from '../../src/circuit/index.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { ECHO, connectRequest, createClient, createRawNode, handleEcho, hopRequest } from '../relay-server/fixtures.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const RESERVE: HopMessage = { type: HopMessage.Type.RESERVE }

interface LimitedRelay {
  relay: RelayProcess
  addr: Multiaddr

  /**
   * The value of a sample on the relay's /metrics, 0 when absent
   */
  metric(name: string, labels?: string): Promise<number>
}

describe('relay program limit flags', function () {
  this.timeout(60_000)
  let relays: RelayProcess[] = []
  let nodes: Libp2p[] = []

  afterEach(async () => {
    await stopNodes(nodes)
    await Promise.all(relays.map(async relay => relay.stop()))
    nodes = []
    relays = []
  })

  async function relayWith (flags: string[]): Promise<LimitedRelay> {
    const metricsPort = await freePort()
    const relay = await startRelayProcess([...flags, '--metrics-port', `${metricsPort}`])
    relays.push(relay)

    return {
      relay,
      addr: multiaddr(relay.tcpAddr),
      async metric (name, labels) {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
        const sample = labels == null ? name : `${name}{${labels}}`
        const line = text.split('\n').find(l => l.startsWith(`${sample} `))
        return line == null ? 0 : Number(line.split(' ').pop())
      }
    }
  }

  async function track<T extends Libp2p> (node: Promise<T>): Promise<T> {
    const started = await node
    nodes.push(started)
    return started
  }

  async function reserveStatus (node: Libp2p, relay: LimitedRelay): Promise<Status | undefined> {
    return (await hopRequest(node, relay.addr, RESERVE)).status
  }

  async function refusals (relay: LimitedRelay, reason: string): Promise<number> {
    return relay.metric('relaymesh_relay_refusals_total', `reason="${reason}"`)
  }

  it('--max-reservations: the next client is refused, counted as max_reservations', async () => {
    const relay = await relayWith(['--max-reservations', '1'])
    const [x, y] = await Promise.all([track(createRawNode()), track(createRawNode())])

    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    expect(await reserveStatus(y, relay)).to.equal(Status.RESERVATION_REFUSED)
    expect(await refusals(relay, 'max_reservations')).to.equal(1)
    expect(await relay.metric('relaymesh_relay_reservations')).to.equal(1)
  })

  it('--max-reservations-per-ip: a second client from 127.0.0.1 is refused, counted as reservations_per_ip', async () => {
    const relay = await relayWith(['--max-reservations-per-ip', '1'])
    const [x, y] = await Promise.all([track(createRawNode()), track(createRawNode())])

    expect(await reserveStatus(x, relay)).to.equal(Status.OK)
    expect(await reserveStatus(y, relay)).to.equal(Status.RESERVATION_REFUSED)
    expect(await refusals(relay, 'reservations_per_ip')).to.equal(1)
  })

  it('--reservation-rate: renewals pass, a new reservation past the rate is refused, counted as rate_limit', async () => {
    const relay = await relayWith(['--reservation-rate', '1', '--reservation-ttl', '10'])
    const x = await track(createRawNode())

    // one new reservation, then renewals well past the rate
    for (let i = 0; i < 6; i++) {
      expect(await reserveStatus(x, relay), `request ${i}`).to.equal(Status.OK)
    }
    expect(await relay.metric('relaymesh_relay_reservations_renewed_total')).to.equal(5)

    // leaving frees it; coming back within the minute is a second new one
    await x.hangUp(relay.addr)
    await pWaitFor(async () => await relay.metric('relaymesh_relay_reservations') === 0, { timeout: 5000, interval: 50 })
    expect(await reserveStatus(x, relay)).to.equal(Status.RESERVATION_REFUSED)
    expect(await refusals(relay, 'rate_limit')).to.equal(1)
  })

  it('--max-circuits-per-peer: a circuit past it is refused, counted as circuits_per_peer', async () => {
    const relay = await relayWith(['--max-circuits-per-peer', '1'])
    const [a, b] = await Promise.all([track(createClient(false)), track(createClient())])
    const x = await track(createRawNode())
    await handleEcho(b)
    await b.dial(relay.addr)
    const bAddr = await pWaitFor(() => {
      const addr = b.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit'))
      return addr == null ? false : pWaitFor.resolveWith(addr)
    }, { timeout: 10_000 })

    await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
    expect(await relay.metric('relaymesh_relay_circuits')).to.equal(1)

    expect((await hopRequest(x, relay.addr, connectRequest(b.peerId))).status).to.equal(Status.RESOURCE_LIMIT_EXCEEDED)
    expect(await refusals(relay, 'circuits_per_peer')).to.equal(1)
  })

  it('--max-circuits and --max-circuits-per-ip: a circuit past them is refused, counted as max_circuits / circuits_per_ip', async () => {
    for (const [flag, reason] of [['--max-circuits', 'max_circuits'], ['--max-circuits-per-ip', 'circuits_per_ip']]) {
      const relay = await relayWith([flag, '1'])
      const [a, b] = await Promise.all([track(createClient(false)), track(createClient())])
      const x = await track(createRawNode())
      await handleEcho(b)
      await b.dial(relay.addr)
      const bAddr = await pWaitFor(() => {
        const addr = b.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit'))
        return addr == null ? false : pWaitFor.resolveWith(addr)
      }, { timeout: 10_000 })

      await a.dialProtocol(bAddr, ECHO, { runOnLimitedConnection: true })
      expect(await relay.metric('relaymesh_relay_circuits')).to.equal(1)

      expect((await hopRequest(x, relay.addr, connectRequest(b.peerId))).status, flag).to.equal(Status.RESOURCE_LIMIT_EXCEEDED)
      expect(await refusals(relay, reason), flag).to.equal(1)
    }
  })
})
