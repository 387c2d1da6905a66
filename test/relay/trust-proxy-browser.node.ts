import '../fixtures/datachannel-cleanup.ts'
import { createHash, X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { buildChat } from '../../examples/browser-chat/build.ts'
import { HopMessage, Status } from '../../src/circuit/index.ts'
import { launchChromium, openChat, sendChat, waitForChatMessage } from '../fixtures/browser-member/serve.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { startMeshMember } from '../fixtures/mesh-member-process.ts'
import { forwardFrom, nginxMissing, startNginx } from '../fixtures/nginx.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startHostileRelay, wsClient } from '../fixtures/raw-ws.ts'
import { makeServerCert, makeTestCa } from '../fixtures/tls-certs.ts'
import { hopRequest } from '../relay-server/fixtures.ts'
import type { MeshMemberProcess } from '../fixtures/mesh-member-process.ts'
import type { Nginx } from '../fixtures/nginx.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { CertFiles } from '../fixtures/tls-certs.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Server } from 'node:net'
import type { Browser } from 'playwright-core'

/**
 * The deployment the relay's README recommends, with Chromium as the user:
 * nginx terminates TLS for the page (http module, in front of the relay's
 * --http-port) and for wss (stream module, passing a PROXY header on to the
 * relay's WebSocket port); the relay announces nginx's address, so the page
 * learns it from /relaymesh.json. Each client reaches nginx through a
 * forwarder from its own 127/8 address, so the relay's per-IP limit shows
 * which address it counts each one under.
 */
describe('relay program: Chromium behind nginx with --trust-proxy', function () {
  this.timeout(180_000)
  let dir: string
  let ca: CertFiles
  let cert: CertFiles
  let spki: string
  let built: string
  let relays: RelayProcess[] = []
  let nginx: Nginx | undefined
  let browser: Browser | undefined
  let members: MeshMemberProcess[] = []
  let nodes: Libp2p[] = []
  let forwarders: Server[] = []
  const rejectUnauthorized = process.env.NODE_TLS_REJECT_UNAUTHORIZED

  before(async function () {
    const missing = nginxMissing()

    if (missing != null) {
      // eslint-disable-next-line no-console
      console.warn(`skipped: ${missing}`)
      this.skip()
    }

    dir = await mkdtemp(join(tmpdir(), 'relaymesh-proxy-browser-'))
    ca = await makeTestCa(dir)
    cert = await makeServerCert(dir, ca, 'nginx')
    // Chromium trusts the certificate's key through a flag (its own trust store is NSS's)
    spki = createHash('sha256').update(new X509Certificate(await readFile(cert.cert)).publicKey.export({ type: 'spki', format: 'der' })).digest('base64')
    built = await buildChat(join(dir, 'page'))
  })

  afterEach(async () => {
    await browser?.close()
    browser = undefined
    await Promise.all(members.map(async member => member.stop()))
    members = []
    await stopNodes(nodes)
    nodes = []
    forwarders.forEach(server => server.close())
    forwarders = []
    await nginx?.stop()
    nginx = undefined
    await Promise.all(relays.map(async relay => relay.stop()))
    relays = []
  })

  after(async () => {
    if (rejectUnauthorized == null) {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
    } else {
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = rejectUnauthorized
    }

    if (dir != null) {
      await rm(dir, { recursive: true, force: true })
    }
  })

  /** a forwarder on 127.0.0.1 to nginx's port (known later) from `from`; returns its port */
  async function forward (from: string, port: () => number | undefined): Promise<number> {
    const forwarder = await forwardFrom(from, () => port() ?? 0)
    forwarders.push(forwarder.server)
    return forwarder.port
  }

  it('Chromium loads the page over https from nginx, joins over wss through nginx, and the relay counts it under its own address', async () => {
    // made before the relay, which announces them
    const chromiumWss = await forward('127.0.0.2', () => nginx?.tlsPort)
    const chromiumPage = await forward('127.0.0.2', () => nginx?.pagePort)
    const memberWss = await forward('127.0.0.3', () => nginx?.tlsPort)
    let wsPort = 0
    let httpPort = 0
    const announced = `/ip4/127.0.0.1/tcp/${chromiumWss}/tls/ws`
    // the relay announces the forwarder, so its own ports are chosen here
    const relay = await startHostileRelay(async () => {
      wsPort = await freePort()
      httpPort = await freePort()
      return ['--port', `${wsPort}`, '--http-port', `${httpPort}`, '--http-root', built, '--announce', announced,
        '--trust-proxy', '127.0.0.1/32', '--max-reservations-per-ip', '1']
    }, relays)
    nginx = await startNginx(wsPort, cert, httpPort)
    const peerId = relay.relay.peerId

    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spki}`])
    const page = await browser.newPage()
    await openChat(page, `https://127.0.0.1:${chromiumPage}/?room=behind-nginx`)
    expect(page.url()).to.match(/^https:/)
    expect(await page.evaluate(() => globalThis.isSecureContext)).to.be.true()
    // the page bootstraps from what /relaymesh.json (through nginx) says: nginx's wss address only
    const info = await page.evaluate(async () => (await fetch('/relaymesh.json')).json())
    expect(info.multiaddrs).to.deep.equal([`${announced}/p2p/${peerId}`])
    // its reservation, made over wss through nginx with a PROXY header
    await page.waitForFunction(() => (globalThis as any).chat.node.getMultiaddrs().some((ma: any) => ma.toString().includes('/p2p-circuit')), undefined, { timeout: 60_000 })
      .catch(async (err: Error) => {
        throw new Error(`Chromium has no reservation (${err.message}); the relay refused ${await relay.metric('relaymesh_relay_websocket_events_total', 'event="proxy_untrusted"')} PROXY headers as untrusted`)
      })

    const member = await startMeshMember({
      relay: `/ip4/127.0.0.1/tcp/${memberWss}/tls/ws/p2p/${peerId}`,
      room: 'behind-nginx',
      echo: true,
      joinAfterReservation: true,
      env: { NODE_EXTRA_CA_CERTS: ca.cert },
      timeout: 60_000
    })
    members.push(member)
    await page.waitForFunction(id => (globalThis as any).chat.room.members.some((m: any) => m.peerId.toString() === id && m.route !== 'none'), member.peerId, { timeout: 60_000 })
    await sendChat(page, 'through nginx')
    await waitForChatMessage(page, 'echo:through nginx')

    // one reservation per address: Chromium holds 127.0.0.2's and the Node
    // member 127.0.0.3's; a new address still gets one. These raw probes in
    // this process cannot be given the test CA (Node's WebSocket is undici's,
    // and the member above verified nginx's certificate): they skip verification
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
    const reserveFrom = async (from: string): Promise<Status | undefined> => {
      const node = await wsClient()
      nodes.push(node)
      const addr = multiaddr(`/ip4/127.0.0.1/tcp/${await forward(from, () => nginx?.tlsPort)}/tls/ws/p2p/${peerId}`)
      return (await hopRequest(node, addr, { type: HopMessage.Type.RESERVE })).status
    }
    expect(await reserveFrom('127.0.0.2'), 'Chromium\'s address').to.equal(Status.RESERVATION_REFUSED)
    expect(await reserveFrom('127.0.0.3'), 'the Node member\'s address').to.equal(Status.RESERVATION_REFUSED)
    expect(await reserveFrom('127.0.0.4'), 'a new address').to.equal(Status.OK)
    expect(await relay.metric('relaymesh_relay_refusals_total', 'reason="reservations_per_ip"')).to.equal(2)
  })
})
