import '../fixtures/datachannel-cleanup.ts'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { startRelayProgram } from '../../relay/relay.ts'
import { stopNodes } from '../fixtures/options.ts'
import { tempKeyFile } from '../fixtures/relay-process.ts'
import { createRawNode } from '../relay-server/fixtures.ts'
import type { RelayProgram } from '../../relay/relay.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

describe('relay program connection list', function () {
  this.timeout(60_000)
  let relay: RelayProgram | undefined
  let clients: Libp2p[] = []

  afterEach(async () => {
    await stopNodes(clients)
    await relay?.stop()
    clients = []
    relay = undefined
  })

  it('lists every connection, in libp2p\'s order, with its own linear getConnections()', async () => {
    relay = await startRelayProgram({ port: 0, tcpPort: 0, keyFile: await tempKeyFile() })
    const relayAddr = relay.multiaddrs.find(ma => ma.toString().includes('/tcp/') && !ma.toString().includes('/ws'))!
    clients = await Promise.all(Array.from({ length: 6 }, async () => createRawNode()))
    await Promise.all(clients.map(async client => client.dial(relayAddr)))
    // the relay counts a connection a moment after the client does
    await pWaitFor(() => relay!.node.getConnections().length === clients.length, { timeout: 10_000 })

    const manager = (relay.node as unknown as { components: { connectionManager: { getConnections(): Connection[] } } }).components.connectionManager
    const libp2ps = Object.getPrototypeOf(manager).getConnections as () => Connection[]

    expect(Object.hasOwn(manager, 'getConnections'), 'replaced on the relay\'s connection manager').to.equal(true)
    expect(manager.getConnections).to.not.equal(libp2ps)
    const ids = relay.node.getConnections().map(c => c.id)
    expect(ids).to.have.lengthOf(6)
    expect(ids).to.deep.equal(libp2ps.call(manager).map(c => c.id))
    expect(relay.node.getConnections(clients[0].peerId).map(c => c.remotePeer.toString())).to.deep.equal([clients[0].peerId.toString()])
  })
})
