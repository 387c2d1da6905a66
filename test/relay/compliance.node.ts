import '../fixtures/datachannel-cleanup.ts'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { stopNodes, waitForCircuitAddress, waitForWebRTCAddress } from '../fixtures/options.ts'
import { echoOnConnection, handleEcho, randomBytes } from '../fixtures/protocols.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createStockNode } from '../fixtures/stock-node.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

describe('relay program with stock js-libp2p clients', function () {
  this.timeout(120_000)
  let relay: RelayProcess | undefined
  let nodes: Libp2p[] = []

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
    await relay?.stop()
    relay = undefined
  })

  it('a stock client reserves and another stock client reaches it through the relay, then upgrades to WebRTC', async () => {
    relay = await startRelayProcess()
    const listener = await createStockNode([`${relay.wsAddr}/p2p-circuit`, '/webrtc'], { webrtc: true })
    const dialer = await createStockNode([], { webrtc: true })
    nodes.push(listener, dialer)
    await handleEcho(listener)

    // relayed, limited connection
    const circuitAddr = await waitForCircuitAddress(listener)
    const relayed = await dialer.dial(circuitAddr, { signal: AbortSignal.timeout(20_000) })
    expect(relayed.limits, 'a relayed connection is limited').to.not.be.undefined()
    const small = randomBytes(1024)
    expect(await echoOnConnection(relayed, small)).to.deep.equal(small)

    // upgrade to WebRTC through the relay. Stock @libp2p/webrtc 6.0.33 fails
    // a few percent of these dials after 6 s (faults 1 and 2 in
    // docs/webrtc-fixes.md, which relaymesh's own transport fixes): a stock
    // client tries again, and so does this test, up to three times
    const webrtcAddr = await waitForWebRTCAddress(listener)
    let direct: Connection | undefined
    const failures: string[] = []
    for (let attempt = 0; attempt < 3 && direct == null; attempt++) {
      direct = await dialer.dial(webrtcAddr, { signal: AbortSignal.timeout(30_000) })
        .catch(err => { failures.push(`${err.name}: ${err.message}`); return undefined })
    }
    if (direct == null) {
      expect.fail(`three stock WebRTC dials through the relay failed: ${failures.join('; ')}`)
    }
    expect(WebRTC.matches(direct.remoteAddr)).to.be.true()
    expect(direct.limits).to.be.undefined()
    const big = randomBytes(256 * 1024)
    expect(await echoOnConnection(direct, big)).to.deep.equal(big)
  })

  it('frees a reservation when its client disconnects, so later clients are not refused', async () => {
    relay = await startRelayProcess(['--max-reservations', '2'])
    const listen = [`${relay.wsAddr}/p2p-circuit`]

    for (let round = 0; round < 3; round++) {
      const clients = await Promise.all([0, 1].map(async () => createStockNode(listen)))
      await Promise.all(clients.map(async client => waitForCircuitAddress(client)))
      await Promise.all(clients.map(async client => client.stop()))
    }

    // six reservations were made by now on a relay that holds two
    const last = await createStockNode([`${relay.wsAddr}/p2p-circuit`])
    nodes.push(last)
    await waitForCircuitAddress(last)
  })

  it('refuses a reservation beyond --max-reservations while the holders are connected', async () => {
    relay = await startRelayProcess(['--max-reservations', '2'])
    const holders = await Promise.all([0, 1].map(async () => createStockNode([`${relay!.wsAddr}/p2p-circuit`])))
    nodes.push(...holders)
    await Promise.all(holders.map(async holder => waitForCircuitAddress(holder)))

    const refused = await createStockNode([`${relay.wsAddr}/p2p-circuit`])
    nodes.push(refused)
    await expect(waitForCircuitAddress(refused, 3000)).to.eventually.be.rejected()
  })

  it('admits 100 clients arriving at once from one IP', async () => {
    // the per-IP reservation limit (default 8, as go-libp2p) is lifted: every
    // test client shares 127.0.0.1. Connection admission stays on defaults.
    relay = await startRelayProcess(['--max-reservations-per-ip', '100'])
    const clients = await Promise.all(Array.from({ length: 100 }, async () => createStockNode([`${relay!.wsAddr}/p2p-circuit`])))
    nodes.push(...clients)

    const reserved = await Promise.allSettled(clients.map(async client => waitForCircuitAddress(client, 60_000)))
    expect(reserved.filter(r => r.status === 'fulfilled')).to.have.lengthOf(100)

    await pWaitFor(() => clients.every(c => c.getConnections().length > 0), { timeout: 5000 })
  })
})
