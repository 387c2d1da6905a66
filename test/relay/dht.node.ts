import '../fixtures/datachannel-cleanup.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../../src/index.ts'
import { testNodeInit } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Libp2p } from '@libp2p/interface'

describe('relay program DHT', function () {
  this.timeout(60_000)
  let relays: RelayProcess[] = []
  let node: Libp2p | undefined

  afterEach(async () => {
    await node?.stop()
    await Promise.all(relays.map(async relay => relay.stop()))
    relays = []
  })

  it('relays joined with --bootstrap serve one DHT that a client-mode node can query', async () => {
    const first = await startRelayProcess()
    relays.push(first)
    const second = await startRelayProcess(['--bootstrap', first.wsAddr])
    relays.push(second)

    // the client knows only the first relay
    node = await createMeshNode(testNodeInit({ bootstrap: [first.wsAddr] }))
    const client = node

    await pWaitFor(() => client.getConnections().some(c => c.remotePeer.toString() === first.peerId), { timeout: 20_000 })

    // and finds the second through the first relay's routing table
    const found = await client.peerRouting.findPeer(peerIdFromString(second.peerId), { signal: AbortSignal.timeout(20_000) })
    expect(found.id.toString()).to.equal(second.peerId)
    expect(found.multiaddrs.map(ma => ma.toString())).to.include(second.wsAddr.replace(`/p2p/${second.peerId}`, ''))
  })
})
