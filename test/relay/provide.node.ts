import '../fixtures/datachannel-cleanup.ts'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { startRelayProgram } from '../../relay/relay.ts'
import { createMeshNode } from '../../src/index.ts'
import { DEFAULT_RELAY_NAMESPACE, relayNamespaceCid } from '../../src/relays/namespace.ts'
import { testNodeInit } from '../fixtures/options.ts'
import { startRelayProcess, tempKeyFile } from '../fixtures/relay-process.ts'
import type { RelayProgram } from '../../relay/relay.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Libp2p, PeerInfo } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * Every provider of `cid` one DHT query finds, by peer id
 */
async function findProviders (node: Libp2p, cid: CID): Promise<Map<string, PeerInfo>> {
  const found = new Map<string, PeerInfo>()

  for await (const provider of node.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) {
    found.set(provider.id.toString(), provider)
  }

  return found
}

/**
 * Queries until the providers of `cid` include every one of `peers`
 */
async function waitForProviders (node: Libp2p, cid: CID, peers: string[]): Promise<Map<string, PeerInfo>> {
  let found = new Map<string, PeerInfo>()

  await pWaitFor(async () => {
    found = await findProviders(node, cid)
    return peers.every(peer => found.has(peer))
  }, { timeout: 30_000, interval: 250 })

  return found
}

/**
 * A client-mode relaymesh node bootstrapped from `relay`
 */
async function meshClient (relay: string): Promise<Libp2p> {
  return createMeshNode(testNodeInit({ bootstrap: [relay] }))
}

function bare (addr: string, peerId: string): string {
  return addr.replace(`/p2p/${peerId}`, '')
}

/**
 * The providers of `cid` in the relay's own provider store
 */
async function storedProviders (program: RelayProgram, cid: CID): Promise<string[]> {
  // the local store is read first: when it holds providers, the first event
  // is a response from the relay itself that lists them
  const events = program.node.services.dht.findProviders(cid, { signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]()

  try {
    const { value: event, done } = await events.next()

    if (done !== true && (event.name === 'PEER_RESPONSE' || event.name === 'PROVIDER') && event.from.equals(program.node.peerId)) {
      return event.providers.map(peer => peer.id.toString())
    }

    return []
  } finally {
    // ends the network query
    await events.return?.()
  }
}

describe('relay program provides its namespace in the DHT', function () {
  this.timeout(90_000)
  let relays: RelayProcess[] = []
  let programs: RelayProgram[] = []
  let node: Libp2p | undefined

  afterEach(async () => {
    await node?.stop()
    await Promise.all(relays.map(async relay => relay.stop()))
    await Promise.all(programs.map(async program => program.stop()))
    node = undefined
    relays = []
    programs = []
  })

  async function relay (args: string[] = []): Promise<RelayProcess> {
    const started = await startRelayProcess(args)
    relays.push(started)
    return started
  }

  it('derives the namespace CID as stock circuit relay does: sha256 of the namespace, CIDv0', async () => {
    const cid = await relayNamespaceCid()
    expect(DEFAULT_RELAY_NAMESPACE).to.equal('relaymesh/relay/v1')
    expect(cid.version).to.equal(0)
    expect(cid.multihash.code).to.equal(0x12)
    expect(cid.equals(await relayNamespaceCid(DEFAULT_RELAY_NAMESPACE))).to.be.true()
    expect(cid.equals(await relayNamespaceCid('relaymesh/relay/v1/eu'))).to.be.false()
    await expect(relayNamespaceCid('')).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
  })

  it('a lone relay holds its own record: a client connected to it alone finds it', async () => {
    const only = await relay()
    const client = node = await meshClient(only.wsAddr)

    const found = await waitForProviders(client, await relayNamespaceCid(), [only.peerId])
    expect([...found.keys()]).to.deep.equal([only.peerId])
    expect(found.get(only.peerId)?.multiaddrs.map(ma => ma.toString())).to.include(bare(only.wsAddr, only.peerId))
  })

  it('relays joined with --bootstrap are both found by a client that knows only the first', async () => {
    const first = await relay()
    const second = await relay(['--bootstrap', first.wsAddr])
    const client = node = await meshClient(first.wsAddr)

    const found = await waitForProviders(client, await relayNamespaceCid(), [first.peerId, second.peerId])
    expect([...found.keys()]).to.have.members([first.peerId, second.peerId])
    // with addresses the client can dial
    expect(found.get(second.peerId)?.multiaddrs.map(ma => ma.toString())).to.include(bare(second.wsAddr, second.peerId))
  })

  it('a relay with another --namespace is not found under the default CID', async () => {
    const first = await relay()
    const second = await relay(['--bootstrap', first.wsAddr])
    const other = await relay(['--bootstrap', first.wsAddr, '--namespace', 'relaymesh/relay/test-other'])
    const client = node = await meshClient(first.wsAddr)

    // the other relay is in the DHT and provides its own namespace...
    const otherFound = await waitForProviders(client, await relayNamespaceCid('relaymesh/relay/test-other'), [other.peerId])
    expect([...otherFound.keys()]).to.deep.equal([other.peerId])

    // ...but not the default one
    await waitForProviders(client, await relayNamespaceCid(), [first.peerId, second.peerId])
    const found = await findProviders(client, await relayNamespaceCid())
    expect([...found.keys()]).to.have.members([first.peerId, second.peerId])
  })

  it('a relay alone provides again as soon as a DHT server joins, and stops while it waits', async () => {
    // the first attempt gives up after 300 ms; the next is a minute away
    const advertise = { attemptTimeout: 300, retryInterval: 60_000 }
    const first = await startRelayProgram({ port: 0, tcpPort: -1, advertise, keyFile: await tempKeyFile() })
    programs.push(first)
    await new Promise(resolve => setTimeout(resolve, 1000))

    const second = await startRelayProgram({ port: 0, tcpPort: -1, advertise, keyFile: await tempKeyFile(), bootstrap: [first.multiaddrs[0].toString()] })
    programs.push(second)
    const cid = await relayNamespaceCid()
    await pWaitFor(async () => (await storedProviders(second, cid)).includes(first.node.peerId.toString()), { timeout: 10_000, interval: 100 })

    const start = Date.now()
    await second.stop()
    await first.stop()
    expect(Date.now() - start).to.be.below(2000)
  })

  it('re-provides through kad-dht before the record expires', async () => {
    // in-process relays with a 3 s record validity: a record is dropped 3 s
    // after it was stored unless its provider re-provides it (every 1-1.5 s)
    const reprovide = { validity: 3000, threshold: 2000, interval: 500 }
    const first = await startRelayProgram({ port: 0, tcpPort: -1, reprovide, keyFile: await tempKeyFile() })
    programs.push(first)
    const second = await startRelayProgram({ port: 0, tcpPort: -1, reprovide, keyFile: await tempKeyFile(), bootstrap: [first.multiaddrs[0].toString()] })
    programs.push(second)
    const cid = await relayNamespaceCid()
    const provider = first.node.peerId.toString()
    await pWaitFor(async () => (await storedProviders(second, cid)).includes(provider), { timeout: 10_000, interval: 100 })

    // the second relay holds the first's record for three validity periods
    const missing: number[] = []
    const start = Date.now()

    while (Date.now() - start < 9000) {
      if (!(await storedProviders(second, cid)).includes(provider)) {
        missing.push(Date.now() - start)
      }
      await new Promise(resolve => setTimeout(resolve, 250))
    }

    expect(missing, 'ms after which the record was missing').to.be.empty()
  })
})
