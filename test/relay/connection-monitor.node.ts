import '../fixtures/datachannel-cleanup.ts'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import pWaitFor from 'p-wait-for'
import { startRelayProgram } from '../../relay/relay.ts'
import { stopNodes } from '../fixtures/options.ts'
import { tempKeyFile } from '../fixtures/relay-process.ts'
import type { RelayProgram } from '../../relay/relay.ts'
import type { Libp2p } from '@libp2p/interface'

const PING = '/ipfs/ping/1.0.0'
/**
 * longer than libp2p's 5 s ping timeout (the relay's is 30 s) and than the
 * ping interval the test gives the relay (5 s), so the next ping starts while
 * the stalled one is still open
 */
const STALL_MS = 7_000

/**
 * Keeps this thread busy for `ms` without yielding to the event loop, as a
 * relay admitting thousands of clients at once does
 */
function stall (ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // busy
  }
}

describe('relay program connection monitor', function () {
  this.timeout(60_000)
  let relay: RelayProgram | undefined
  let client: Libp2p | undefined

  afterEach(async () => {
    await stopNodes(client == null ? [] : [client])
    await relay?.stop()
    client = undefined
    relay = undefined
  })

  it('keeps a client and its reservation through an event loop stall longer than 5 s and than the ping interval, with the relay\'s ping in flight', async () => {
    relay = await startRelayProgram({ port: 0, tcpPort: 0, keyFile: await tempKeyFile(), pingInterval: 5_000 })
    const relayAddr = relay.multiaddrs.find(ma => ma.toString().includes('/tcp/') && !ma.toString().includes('/ws'))
    expect(relayAddr, 'relay TCP address').to.not.equal(undefined)

    let stalled = false
    client = await createLibp2p({
      addresses: { listen: ['/p2p-circuit'] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // only the relay pings: the stall must be judged by the relay's monitor
      connectionMonitor: { enabled: false },
      services: { identify: identify() }
    })

    // answer the relay's ping, then stall the whole process (relay included)
    // before the relay has read the answer: its ping timer expires during the
    // stall and runs before the answer is read
    await client.handle(PING, async (stream) => {
      for await (const buf of stream) {
        stream.send(buf)
        if (!stalled) {
          stalled = true
          stall(STALL_MS)
        }
      }
      await stream.close()
    }, { runOnLimitedConnection: true })

    const relayPeer = relay.node.peerId
    const connection = await client.dial(relayAddr!)
    await pWaitFor(() => client!.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), { timeout: 10_000 })
    // the client's circuit transport redials and reserves again after a drop:
    // count drops rather than look at what is open afterwards
    let closed = 0
    client.addEventListener('connection:close', () => { closed++ })

    // the relay's monitor pings every 5 s here
    await pWaitFor(() => stalled, { timeout: 20_000, interval: 50 })
    // the ping settles, or the connection is aborted, within a moment of the stall
    await new Promise(resolve => setTimeout(resolve, 1_000))

    expect(closed, 'connections closed').to.equal(0)
    expect(connection.status).to.equal('open')
    expect(relay.node.getConnections(client.peerId).filter(c => c.status === 'open'), 'relay side').to.have.lengthOf(1)
    expect(client.getConnections(relayPeer).map(c => c.id), 'client side').to.deep.equal([connection.id])
    expect(client.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), 'reservation').to.equal(true)
  })
})
