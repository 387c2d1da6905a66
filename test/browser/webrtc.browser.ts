import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { createMeshNode } from '../../src/index.ts'
import { expectDirectWebRTC } from '../fixtures/assertions.ts'
import { testNodeInit, waitForWebRTCAddress } from '../fixtures/options.ts'
import { echoOnConnection, handleEcho, randomBytes } from '../fixtures/protocols.ts'
import type { Libp2p } from '@libp2p/interface'

// The relay program and a Node echo peer are started by .aegir.js. Chromium
// gathers ICE host candidates on this machine's own interfaces (a page cannot
// bind ICE to 127.0.0.1); no STUN or TURN server is configured, so no traffic
// leaves the machine.
describe('createMeshNode (Chromium)', function () {
  this.timeout(90_000)
  const relayAddr = process.env.RELAY_ADDR ?? ''
  let nodes: Libp2p[] = []

  afterEach(async () => {
    await Promise.all(nodes.map(async node => node.stop()))
    nodes = []
  })

  it('is given a relay and a Node peer by the test hooks', () => {
    expect(relayAddr).to.match(/\/ws\/p2p\/12D3KooW/)
    expect(process.env.ECHO_PEER_WEBRTC_ADDR).to.include('/p2p-circuit/webrtc/p2p/')
  })

  it('a browser node connects to a Node node over WebRTC through the relay', async () => {
    const node = await createMeshNode(testNodeInit({ bootstrap: [relayAddr] }))
    nodes.push(node)

    const connection = await node.dial(multiaddr(process.env.ECHO_PEER_WEBRTC_ADDR ?? ''), { signal: AbortSignal.timeout(30_000) })
    expectDirectWebRTC(connection)
    expect(connection.remotePeer.toString()).to.equal(process.env.ECHO_PEER_ID)

    const payload = randomBytes(64 * 1024)
    expect(await echoOnConnection(connection, payload)).to.deep.equal(payload)
  })

  it('two browser nodes in one page connect over WebRTC through the relay', async () => {
    const a = await createMeshNode(testNodeInit({ bootstrap: [relayAddr] }))
    const b = await createMeshNode(testNodeInit({ bootstrap: [relayAddr] }))
    nodes.push(a, b)
    await handleEcho(b)

    const bAddr = await waitForWebRTCAddress(b)
    const connection = await a.dial(bAddr, { signal: AbortSignal.timeout(30_000) })
    expectDirectWebRTC(connection)

    const payload = randomBytes(32 * 1024)
    expect(await echoOnConnection(connection, payload)).to.deep.equal(payload)
  })
})
