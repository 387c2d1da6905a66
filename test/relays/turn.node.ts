import '../fixtures/datachannel-cleanup.ts'
import { existsSync } from 'node:fs'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { startRelayProgram } from '../../relay/relay.ts'
import { createMeshNode } from '../../src/index.ts'
import { TURNSERVER, startCoturn } from '../fixtures/coturn.ts'
import { stopNodes, testNodeInit, waitForWebRTCAddress } from '../fixtures/options.ts'
import { tempKeyFile } from '../fixtures/relay-process.ts'
import type { RelayProgram } from '../../relay/relay.ts'
import type { RelaymeshServices } from '../../src/index.ts'
import type { Coturn } from '../fixtures/coturn.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

describe('TURN (coturn) handed out by the relay', function () {
  this.timeout(120_000)
  let coturn: Coturn | undefined
  let relay: RelayProgram | undefined
  let nodes: Array<Libp2p<RelaymeshServices>> = []

  before(function () {
    if (!existsSync(TURNSERVER)) {
      // Debian's coturn; .ci installs it
      this.skip()
    }
  })

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
    await relay?.stop()
    await coturn?.stop()
  })

  it('two members that may only use relay candidates connect over WebRTC through the handed-out TURN server', async () => {
    coturn = await startCoturn({ user: 'member', password: 'pw-123' })
    relay = await startRelayProgram({
      port: 0,
      tcpPort: -1,
      keyFile: await tempKeyFile(),
      iceServers: [{ urls: [`turn:127.0.0.1:${coturn.port}?transport=udp`], username: 'member', credential: 'pw-123' }]
    })

    // iceTransportPolicy 'relay': no host or STUN candidates, so only TURN can connect them
    for (let i = 0; i < 2; i++) {
      nodes.push(await createMeshNode(testNodeInit({
        bootstrap: relay.multiaddrs,
        relays: { relayCount: 1, discovery: false },
        rtcConfiguration: { bindAddress: '127.0.0.1', iceTransportPolicy: 'relay' }
      })))
    }

    const [a, b] = nodes
    await Promise.all(nodes.map(async node => pWaitFor(() => node.services.relays.iceServers.length === 1, { timeout: 30_000 })))
    const addr = await waitForWebRTCAddress(a)

    // two WebRTC peers in one process may fail a first DTLS handshake (see TOOLCHAIN.md): retry
    let connection: Connection | undefined
    const errors: string[] = []

    for (let attempt = 0; attempt < 3 && connection == null; attempt++) {
      connection = await b.dial(addr, { signal: AbortSignal.timeout(30_000) }).catch((err: Error) => { errors.push(err.message); return undefined })
    }

    expect(connection, errors.join('; ')).to.not.be.undefined()
    expect(WebRTC.matches(connection!.remoteAddr), connection!.remoteAddr.toString()).to.be.true()
    expect(connection!.limits, 'not the limited relayed connection').to.be.undefined()
    // both allocated with the handed-out credentials, and the pair talks through a channel
    expect(coturn.log().match(/user <member>: incoming packet ALLOCATE processed, success/g)).to.have.length.of.at.least(2)
    expect(coturn.log()).to.match(/user <member>: incoming packet CHANNEL_BIND processed, success/)
  })
})
