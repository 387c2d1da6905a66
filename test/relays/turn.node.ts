import '../fixtures/datachannel-cleanup.ts'
import { createHmac } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
    relay = undefined
    await coturn?.stop()
    coturn = undefined
  })

  /** two members limited to relay candidates (no host or STUN ones): only TURN can connect them */
  async function connectThroughTurn (): Promise<void> {
    for (let i = 0; i < 2; i++) {
      nodes.push(await createMeshNode(testNodeInit({
        bootstrap: relay!.multiaddrs,
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
  }

  it('two members that may only use relay candidates connect over WebRTC through the handed-out TURN server', async () => {
    coturn = await startCoturn({ user: 'member', password: 'pw+1/2=' })
    relay = await startRelayProgram({
      port: 0,
      tcpPort: -1,
      keyFile: await tempKeyFile(),
      iceServers: [{ urls: [`turn:127.0.0.1:${coturn.port}?transport=udp`], username: 'member', credential: 'pw+1/2=' }]
    })

    await connectThroughTurn()

    // both allocated with the handed-out credentials and let the other's relayed address in
    expect(coturn.log().match(/user <member>: incoming packet ALLOCATE processed, success/g)).to.have.length.of.at.least(2)
    await pWaitFor(() => /user <member>: incoming packet CREATE_PERMISSION processed, success/.test(coturn?.log() ?? ''), { timeout: 5000 })
  })

  it('with --turn-secret-file, the relay hands out time-limited credentials that coturn\'s use-auth-secret accepts', async () => {
    const secret = 'relaymesh-test-secret'
    const file = join(await mkdtemp(join(tmpdir(), 'relaymesh-turn-')), 'secret')
    await writeFile(file, `${secret}\n`)
    coturn = await startCoturn({ secret })
    relay = await startRelayProgram({
      port: 0,
      tcpPort: -1,
      keyFile: await tempKeyFile(),
      iceServers: [{ urls: [`turn:127.0.0.1:${coturn.port}?transport=udp`] }],
      turnSecretFile: file
    })

    await connectThroughTurn()
    const [{ username, credential }] = nodes[0].services.relays.iceServers
    // valid until the reservation's end plus 10 minutes
    const expiry = nodes[0].services.relays.selected[0].expiry / 1000
    expect(Number(username)).to.be.within(expiry + 600 - 30, expiry + 600 + 30)
    expect(credential).to.equal(createHmac('sha1', secret).update(username ?? '').digest('base64'))
    expect(coturn.log().match(/incoming packet ALLOCATE processed, success/g)).to.have.length.of.at.least(2)
    await pWaitFor(() => /incoming packet CREATE_PERMISSION processed, success/.test(coturn?.log() ?? ''), { timeout: 5000 })
  })
})
