import '../fixtures/datachannel-cleanup.ts'
import { createServer } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { byteStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../../src/index.ts'
import { expectDirectWebRTC } from '../fixtures/assertions.ts'
import { startEchoPeer } from '../fixtures/echo-peer-process.ts'
import { stopNodes, testNodeInit, waitForCircuitAddress, waitForWebRTCAddress } from '../fixtures/options.ts'
import { echoOnConnection, handleEcho, randomBytes } from '../fixtures/protocols.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { EchoPeerProcess } from '../fixtures/echo-peer-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Connection, Libp2p } from '@libp2p/interface'
import type { AddressInfo, Socket } from 'node:net'

const PING_PROTOCOL = '/ipfs/ping/1.0.0'

describe('createMeshNode (Node)', function () {
  this.timeout(90_000)
  let relay: RelayProcess
  let nodes: Libp2p[] = []
  let peer: EchoPeerProcess | undefined

  before(async () => {
    relay = await startRelayProcess(['--max-circuits-per-peer', '64'])
  })

  after(async () => {
    await relay?.stop()
  })

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
    await peer?.stop()
    peer = undefined
  })

  it('composes WebRTC, WebSockets, TCP, circuit relay, identify, ping and a client-mode DHT on our protocol id', async () => {
    const node = await createMeshNode(testNodeInit())
    nodes.push(node)

    expect(node.services).to.have.keys('identify', 'ping', 'dht', 'relays', 'mesh')
    expect(node.getProtocols()).to.include.members(['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', '/webrtc-signaling/0.0.1', '/libp2p/circuit/relay/0.2.0/stop'])
    // client mode: the node does not serve the DHT protocol, and never the public one
    expect(node.getProtocols()).to.not.include('/ipfs/kad/1.0.0')
    expect(node.getProtocols()).to.not.include('/relaymesh/kad/1.0.0')
    expect(node.services.dht.getMode()).to.equal('client')
  })

  it('serves the DHT in server mode when asked', async () => {
    const node = await createMeshNode(testNodeInit({ dht: 'server' }))
    nodes.push(node)

    expect(node.services.dht.getMode()).to.equal('server')
    expect(node.getProtocols()).to.include('/relaymesh/kad/1.0.0')
  })

  it('refuses a maxParallelWebRTCDials that would never let a WebRTC dial run', async () => {
    for (const maxParallelWebRTCDials of [0, -1, 1.5, Number.NaN]) {
      await expect(createMeshNode(testNodeInit({ mesh: { maxParallelWebRTCDials } })), String(maxParallelWebRTCDials)).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
    }
  })

  it('two nodes reserve on the relay program and connect over /p2p-circuit/webrtc, echoing both ways', async () => {
    const a = await createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr] }))
    const b = await createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr] }))
    nodes.push(a, b)
    await Promise.all([handleEcho(a), handleEcho(b)])

    const bAddr = await waitForWebRTCAddress(b)
    expect(bAddr.toString()).to.equal(`${relay.wsAddr}/p2p-circuit/webrtc/p2p/${b.peerId}`)

    const aToB = await a.dial(bAddr, { signal: AbortSignal.timeout(30_000) })
    expectDirectWebRTC(aToB)

    const payload = randomBytes(100_000)
    expect(await echoOnConnection(aToB, payload)).to.deep.equal(payload)

    // and from B over its side of the same WebRTC connection
    let bToA: Connection | undefined
    await pWaitFor(() => {
      bToA = b.getConnections(a.peerId).find(c => WebRTC.matches(c.remoteAddr))
      return bToA != null
    }, { timeout: 10_000 })
    expectDirectWebRTC(bToA!)
    const back = randomBytes(50_000)
    expect(await echoOnConnection(bToA!, back)).to.deep.equal(back)
  })

  it('connects over WebRTC to a node in another process', async () => {
    const a = await createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr] }))
    nodes.push(a)
    peer = await startEchoPeer(relay.wsAddr)

    const connection = await a.dial(multiaddr(peer.webrtcAddr), { signal: AbortSignal.timeout(30_000) })
    expectDirectWebRTC(connection)
    expect(connection.remotePeer.toString()).to.equal(peer.peerId)

    const payload = randomBytes(64 * 1024)
    expect(await echoOnConnection(connection, payload)).to.deep.equal(payload)
  })

  it('dials a peer in another process again right after hanging up, 30 times, each on the first try', async () => {
    const a = await createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr] }))
    nodes.push(a)
    peer = await startEchoPeer(relay.wsAddr)
    const target = multiaddr(peer.webrtcAddr)
    const failures: string[] = []

    for (let round = 0; round < 30; round++) {
      // where a dial that fails got to, for the failure message
      const started = Date.now()
      const progress: string[] = []

      try {
        const connection = await a.dial(target, {
          signal: AbortSignal.timeout(20_000),
          onProgress: (evt: { type: string, detail?: unknown }) => {
            // the details our WebRTC transport gives (the init channel's state)
            const detail = evt.type.startsWith('webrtc:') && evt.detail != null ? ` ${JSON.stringify(evt.detail)}` : ''
            progress.push(`${Date.now() - started} ms ${evt.type}${detail}`)
          }
        })
        progress.push(`${Date.now() - started} ms dialed`)

        if (progress.some(line => line.includes('webrtc:init-channel-not-closed'))) {
          // our WebRTC transport went on without the init channel's close (docs/webrtc-fixes.md, fault 1)
          process.stdout.write(`      round ${round}: the init channel's close was not seen; the dial went on: ${progress.join(', ')}\n`)
        }

        expectDirectWebRTC(connection)
        expect(await echoOnConnection(connection, new Uint8Array([round]))).to.deep.equal(new Uint8Array([round]))
      } catch (err: any) {
        // each dial is a relayed connection and a WebRTC one: the callee's
        // per-source limit (5 a second) refused them, reported as a Noise error
        failures.push(`round ${round}: ${err.name}: ${err.message} after ${Date.now() - started} ms; progress: ${progress.join(', ')}`)
      }

      await a.hangUp(peerIdFromString(peer.peerId))
      await new Promise(resolve => setTimeout(resolve, 50))
    }

    expect(failures, failures.join('\n')).to.be.empty()
  })

  it('keeps a connection whose pings are answered slowly (stock libp2p aborts it after 5 s)', async () => {
    const replyDelay = 7_000
    const slow = await createMeshNode(testNodeInit({ listen: ['/ip4/127.0.0.1/tcp/0'] }))
    const watcher = await createMeshNode(testNodeInit({ listen: [], dialPrivateAddresses: true, libp2p: { connectionMonitor: { pingInterval: 2_000 } } }))
    nodes.push(slow, watcher)

    // a busy peer: it answers pings, 7 s late
    const answered: number[] = []
    await slow.unhandle(PING_PROTOCOL)
    await slow.handle(PING_PROTOCOL, async (stream) => {
      const bytes = byteStream(stream)
      const ping = await bytes.read({ bytes: 32 })
      await new Promise(resolve => setTimeout(resolve, replyDelay))
      await bytes.write(ping)
      answered.push(Date.now())
      await stream.close()
    }, { maxInboundStreams: 64 })

    const connection = await watcher.dial(slow.getMultiaddrs()[0])
    await pWaitFor(() => {
      if (connection.status !== 'open') {
        throw new Error(`the connection was ${connection.status} after ${answered.length} slow pings`)
      }

      return answered.length >= 2
    }, { timeout: 60_000, interval: 100 })

    expect(connection.status).to.equal('open')
    expect(watcher.getConnections(slow.peerId)).to.include(connection)
  })

  it('accepts many relayed peers arriving at once (inbound limits are per source, not per relay IP)', async () => {
    const target = await createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr] }))
    nodes.push(target)
    await handleEcho(target)
    const targetAddr = await waitForCircuitAddress(target)

    // stock libp2p admits 5 per second from the relay's IP
    const dialers = await Promise.all(Array.from({ length: 20 }, async () => createMeshNode(testNodeInit({ listen: [], dialPrivateAddresses: true }))))
    nodes.push(...dialers)

    const results = await Promise.allSettled(dialers.map(async (dialer, i) => {
      let stage = 'dial'
      try {
        const connection = await dialer.dial(targetAddr, { signal: AbortSignal.timeout(30_000) })
        expect(connection.limits, 'relayed').to.not.be.undefined()
        stage = 'echo'
        return await echoOnConnection(connection, new Uint8Array([1, 2, 3]))
      } catch (err: any) {
        throw new Error(`dialer ${i} failed at ${stage}: ${err.message}; its connections: ${dialer.getConnections().map(c => `${c.remoteAddr} ${c.status}`).join(', ')}`)
      }
    }))

    const failed = results.filter(r => r.status === 'rejected').map(r => (r as PromiseRejectedResult).reason?.message)
    expect(failed, failed.join('\n')).to.be.empty()
    expect(new Set(target.getConnections().map(c => c.remotePeer.toString())).size).to.be.at.least(21)
  })

  it('does not dial private addresses a peer hands out, only those on its bootstrap relays\' host, unless told to', async () => {
    // a service on the node's own machine, on another loopback address than the relay's
    const accepted: Socket[] = []
    const server = createServer(socket => { accepted.push(socket); socket.destroy() })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.2', resolve))
    const port = (server.address() as AddressInfo).port

    try {
      const stranger = await createMeshNode(testNodeInit({ listen: [] }))
      nodes.push(stranger)
      // an address as a member record, identify or a DHT entry would put it in the peer store
      const lure = multiaddr(`/ip4/127.0.0.2/tcp/${port}`)

      const node = await createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr] }))
      nodes.push(node)
      await waitForCircuitAddress(node)
      await node.peerStore.merge(stranger.peerId, { multiaddrs: [lure] })

      await expect(node.dial(stranger.peerId, { signal: AbortSignal.timeout(10_000) })).to.eventually.be.rejected()
        .with.property('name', 'DialDeniedError')
      await expect(node.dial(lure, { signal: AbortSignal.timeout(10_000) })).to.eventually.be.rejected()
        .with.property('name', 'DialDeniedError')
      expect(accepted).to.have.lengthOf(0)

      // a node on a LAN: the same dial reaches the service
      const lan = await createMeshNode(testNodeInit({ listen: [], dialPrivateAddresses: true }))
      nodes.push(lan)
      await expect(lan.dial(lure, { signal: AbortSignal.timeout(10_000) })).to.eventually.be.rejected()
      expect(accepted).to.have.lengthOf(1)
    } finally {
      server.close()
    }
  })
})
