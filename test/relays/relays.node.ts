import '../fixtures/datachannel-cleanup.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../../src/index.ts'
import { relayNamespaceCid } from '../../src/relays/index.ts'
import { startDelayedRelay } from '../fixtures/delay-proxy.ts'
import { stopNodes, testNodeInit } from '../fixtures/options.ts'
import { echoOnConnection, handleEcho } from '../fixtures/protocols.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createStockNode } from '../fixtures/stock-node.ts'
import type { MeshNodeInit, RelaymeshServices } from '../../src/index.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Libp2p } from '@libp2p/interface'

type MeshNode = Libp2p<RelaymeshServices>

/** fast re-evaluation so discovery shows up within a test */
const FAST: MeshNodeInit['relays'] = { reevaluateInterval: 3000, backoffInitial: 500, backoffMax: 5000 }

function selectedIds (node: MeshNode): string[] {
  return node.services.relays.selected.map(r => r.peerId.toString()).sort()
}

/** a relayed address of `node` through `relayId` */
function circuitAddrVia (node: Libp2p, relayId: string): string | undefined {
  return node.getMultiaddrs().map(String).find(ma => ma.includes(`/p2p/${relayId}/p2p-circuit/p2p/`))
}

/** `dialer` opens a fresh relayed connection to `target` through `relayId` and echoes */
async function reachableVia (dialer: Libp2p, target: Libp2p, relayId: string): Promise<void> {
  const addr = circuitAddrVia(target, relayId)
  expect(addr, `relayed address through ${relayId}`).to.be.a('string')
  await Promise.all(dialer.getConnections(target.peerId).map(async c => c.close()))
  const connection = await dialer.dial(multiaddr(addr!), { signal: AbortSignal.timeout(10_000) })
  expect(await echoOnConnection(connection, new Uint8Array([4, 5, 6]))).to.deep.equal(new Uint8Array([4, 5, 6]))
}

describe('relays service', function () {
  this.timeout(180_000)
  let relays: Array<{ stop(signal?: NodeJS.Signals): Promise<unknown> }> = []
  let nodes: Libp2p[] = []

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
    await Promise.all(relays.map(async relay => relay.stop('SIGKILL')))
    relays = []
  })

  it('finds relays in the DHT and reserves on the two fastest, starting from the slowest', async () => {
    const fast = await startDelayedRelay(0)
    const mid = await startDelayedRelay(40, ['--bootstrap', fast.addr])
    const slow = await startDelayedRelay(120, ['--bootstrap', fast.addr])
    relays.push(fast, mid, slow)

    const node = await createMeshNode(testNodeInit({ bootstrap: [slow.addr], relays: { ...FAST, relayCount: 2 } }))
    nodes.push(node)

    await pWaitFor(() => selectedIds(node).join() === [fast.peerId, mid.peerId].sort().join(), { timeout: 90_000, interval: 200 })

    const latency = Object.fromEntries(node.services.relays.candidates.map(c => [c.peerId.toString(), c.latency]))
    expect(latency[fast.peerId]).to.be.below(latency[mid.peerId]!)
    expect(latency[mid.peerId]).to.be.below(latency[slow.peerId]!)
    expect(circuitAddrVia(node, fast.peerId)).to.be.a('string')
    expect(circuitAddrVia(node, mid.peerId)).to.be.a('string')
    await pWaitFor(() => circuitAddrVia(node, slow.peerId) == null, { timeout: 10_000 })
  })

  it('stays reachable through relays granting 10 s reservations for 35 s', async () => {
    const relay = await startRelayProcess(['--reservation-ttl', '10'])
    relays.push(relay)
    const node = await createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr], relays: { relayCount: 1, discovery: false } }))
    const dialer = await createMeshNode(testNodeInit({ listen: [], relays: { discovery: false }, dialPrivateAddresses: true }))
    nodes.push(node, dialer)
    await handleEcho(node)
    await pWaitFor(() => circuitAddrVia(node, relay.peerId) != null, { timeout: 20_000 })

    const end = Date.now() + 35_000
    let dials = 0

    while (Date.now() < end) {
      await reachableVia(dialer, node, relay.peerId)
      dials++
      await new Promise(resolve => setTimeout(resolve, 1000))
    }

    expect(dials).to.be.at.least(12)
    // a 10 s reservation lasted 35 s: it was renewed several times
    expect(node.services.relays.selected[0].renewals).to.be.at.least(3)
  })

  it('fails over to a measured candidate when a selected relay is killed', async () => {
    const first = await startRelayProcess()
    const second = await startRelayProcess(['--bootstrap', first.wsAddr])
    const third = await startRelayProcess(['--bootstrap', first.wsAddr])
    relays.push(first, second, third)
    const all = [first, second, third]

    const node = await createMeshNode(testNodeInit({ bootstrap: [first.wsAddr], relays: { ...FAST, relayCount: 2 } }))
    const dialer = await createMeshNode(testNodeInit({ listen: [], relays: { discovery: false }, dialPrivateAddresses: true }))
    nodes.push(node, dialer)
    await handleEcho(node)

    // two held, the third measured and waiting
    await pWaitFor(() => node.services.relays.selected.length === 2 && node.services.relays.candidates.filter(c => c.latency != null).length === 3, { timeout: 60_000, interval: 100 })
    const victim = all.find(r => r.peerId === selectedIds(node)[0])!
    const spare = all.find(r => !selectedIds(node).includes(r.peerId))!

    const selected = pEvent(node.services.relays, 'relays:relay-selected', { filter: (evt: any) => evt.detail.peerId.toString() === spare.peerId })
    const killedAt = Date.now()
    await victim.stop('SIGKILL')
    await selected
    const failoverMs = Date.now() - killedAt

    expect(selectedIds(node)).to.not.include(victim.peerId)
    expect(selectedIds(node)).to.include(spare.peerId)
    await pWaitFor(() => circuitAddrVia(node, spare.peerId) != null, { timeout: 10_000 })
    await reachableVia(dialer, node, spare.peerId)
    process.stderr.write(`      failover after SIGKILL: ${failoverMs} ms\n`)
    expect(failoverMs).to.be.below(30_000)
  })

  it('reserves again on a relay that comes back with the same peer id (js-libp2p #3601)', async () => {
    const relay = await startRelayProcess()
    relays.push(relay)
    const port = relay.wsAddr.split('/')[4]
    const node = await createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr], relays: { relayCount: 1, discovery: false, backoffInitial: 200, backoffMax: 2000 } }))
    const dialer = await createMeshNode(testNodeInit({ listen: [], relays: { discovery: false }, dialPrivateAddresses: true }))
    nodes.push(node, dialer)
    await handleEcho(node)
    await pWaitFor(() => circuitAddrVia(node, relay.peerId) != null, { timeout: 20_000 })

    await relay.stop('SIGKILL')
    await pWaitFor(() => node.services.relays.selected.length === 0 && circuitAddrVia(node, relay.peerId) == null, { timeout: 20_000 })

    // same key file, same port: the same relay, restarted
    const again = await startRelayProcess(['--port', port], relay.keyFile)
    relays.push(again)
    expect(again.peerId).to.equal(relay.peerId)

    await pWaitFor(() => selectedIds(node).includes(relay.peerId) && circuitAddrVia(node, relay.peerId) != null, { timeout: 30_000, interval: 100 })
    await reachableVia(dialer, node, relay.peerId)
  })

  it('keeps working with the good relays when candidates are bad', async () => {
    const good = await startRelayProcess()
    const refusing = await startRelayProcess(['--bootstrap', good.wsAddr, '--max-reservations', '1'])
    relays.push(good, refusing)

    // fill the refusing relay's only slot
    const squatter = await createStockNode([`${refusing.wsAddr}/p2p-circuit`])
    nodes.push(squatter)
    await pWaitFor(() => squatter.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), { timeout: 20_000 })

    // a DHT server that claims to be a relay (provides the namespace) but does not speak hop
    const impostor = await createMeshNode(testNodeInit({ dht: 'server', listen: ['/ip4/127.0.0.1/tcp/0/ws'], relays: { discovery: false }, dialPrivateAddresses: true }))
    // and one whose provider record carries an address where nothing listens
    const ghost = await createMeshNode(testNodeInit({ dht: 'server', listen: ['/ip4/127.0.0.1/tcp/0/ws'], relays: { discovery: false }, dialPrivateAddresses: true, libp2p: { addresses: { announce: ['/ip4/127.0.0.1/tcp/1/ws'] } } }))
    nodes.push(impostor, ghost)
    const cid = await relayNamespaceCid()

    for (const fake of [impostor, ghost]) {
      await fake.dial(multiaddr(good.wsAddr))
      await pWaitFor(() => fake.services.dht.getMode() === 'server', { timeout: 5000 })
      await fake.contentRouting.provide(cid, { signal: AbortSignal.timeout(20_000) })
    }

    const node = await createMeshNode(testNodeInit({ bootstrap: [good.wsAddr], relays: { ...FAST, relayCount: 3 } }))
    nodes.push(node)
    await handleEcho(node)

    const ids = [refusing, impostor, ghost].map(x => 'peerId' in x && typeof x.peerId === 'string' ? x.peerId : (x as Libp2p).peerId.toString())
    await pWaitFor(() => ids.every(id => node.services.relays.candidates.some(c => c.peerId.toString() === id && c.failures > 0)), { timeout: 60_000, interval: 200 })

    expect(selectedIds(node)).to.deep.equal([good.peerId])
    const dialer = await createMeshNode(testNodeInit({ listen: [], relays: { discovery: false }, dialPrivateAddresses: true }))
    nodes.push(dialer)
    await reachableVia(dialer, node, good.peerId)
  })
})

export type { RelayProcess }
