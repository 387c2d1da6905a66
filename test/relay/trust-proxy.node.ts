import '../fixtures/datachannel-cleanup.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { HopMessage, Status } from '../../src/circuit/index.ts'
import { forwardFrom, nginxMissing, startNginx } from '../fixtures/nginx.ts'
import { stopNodes } from '../fixtures/options.ts'
import { closedWithin, rawSocket, startHostileRelay, upgrade, wsClient } from '../fixtures/raw-ws.ts'
import { makeServerCert, makeTestCa } from '../fixtures/tls-certs.ts'
import { hopRequest } from '../relay-server/fixtures.ts'
import type { Nginx } from '../fixtures/nginx.ts'
import type { HostileRelay } from '../fixtures/raw-ws.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { CertFiles } from '../fixtures/tls-certs.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Server } from 'node:net'

describe('relay program: --trust-proxy behind nginx', function () {
  this.timeout(120_000)
  let dir: string
  let cert: CertFiles
  let relays: RelayProcess[] = []
  let nginx: Nginx | undefined
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

    dir = await mkdtemp(join(tmpdir(), 'relaymesh-proxy-'))
    cert = await makeServerCert(dir, await makeTestCa(dir), 'nginx')
    // Node's WebSocket (undici) cannot be given the test CA in this process: the
    // wss dials to nginx skip verification (the TLS tests check certificates)
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
  })

  afterEach(async () => {
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

  /** reserves from `from` through nginx's `port`, as `/tls/ws` or `/ws` */
  async function reserveFrom (relay: HostileRelay, from: string, port: number, protocol: 'tls/ws' | 'ws'): Promise<Status | undefined> {
    const forwarder = await forwardFrom(from, port)
    forwarders.push(forwarder.server)
    const node = await wsClient()
    nodes.push(node)
    const addr = multiaddr(`/ip4/127.0.0.1/tcp/${forwarder.port}/${protocol}/p2p/${relay.relay.peerId}`)
    return (await hopRequest(node, addr, { type: HopMessage.Type.RESERVE })).status
  }

  async function refusedPerIp (relay: HostileRelay): Promise<number> {
    return relay.metric('relaymesh_relay_refusals_total', 'reason="reservations_per_ip"')
  }

  it('counts clients by the address in nginx\'s PROXY header (TLS terminated by nginx)', async () => {
    const relay = await startHostileRelay(['--trust-proxy', '127.0.0.1/32', '--max-reservations-per-ip', '1'], relays)
    nginx = await startNginx(relay.port, cert)

    expect(await reserveFrom(relay, '127.0.0.2', nginx.tlsPort, 'tls/ws')).to.equal(Status.OK)
    expect(await reserveFrom(relay, '127.0.0.3', nginx.tlsPort, 'tls/ws')).to.equal(Status.OK)
    expect(await reserveFrom(relay, '127.0.0.2', nginx.tlsPort, 'tls/ws')).to.equal(Status.RESERVATION_REFUSED)
    expect(await refusedPerIp(relay)).to.equal(1)
  })

  it('uses X-Forwarded-For from a trusted proxy', async () => {
    const relay = await startHostileRelay(['--trust-proxy', '127.0.0.1', '--max-reservations-per-ip', '1'], relays)
    nginx = await startNginx(relay.port, cert)

    expect(await reserveFrom(relay, '127.0.0.2', nginx.httpPort, 'ws')).to.equal(Status.OK)
    expect(await reserveFrom(relay, '127.0.0.3', nginx.httpPort, 'ws')).to.equal(Status.OK)
    expect(await reserveFrom(relay, '127.0.0.2', nginx.httpPort, 'ws')).to.equal(Status.RESERVATION_REFUSED)
  })

  it('ignores X-Forwarded-For from a proxy it does not trust', async () => {
    const relay = await startHostileRelay(['--trust-proxy', '10.0.0.0/8', '--max-reservations-per-ip', '1'], relays)
    nginx = await startNginx(relay.port, cert)

    expect(await reserveFrom(relay, '127.0.0.2', nginx.httpPort, 'ws')).to.equal(Status.OK)
    // both come from nginx's 127.0.0.1
    expect(await reserveFrom(relay, '127.0.0.3', nginx.httpPort, 'ws')).to.equal(Status.RESERVATION_REFUSED)
  })

  it('closes a socket that sends a PROXY header without being a trusted proxy, and one with a malformed header', async () => {
    const relay = await startHostileRelay(['--trust-proxy', '127.0.0.1/32'], relays)

    const untrusted = await rawSocket(relay.port, '127.0.0.5')
    untrusted.write('PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n')
    expect(await closedWithin(untrusted, 10_000), 'untrusted closed').to.be.at.least(0)

    const malformed = await rawSocket(relay.port, '127.0.0.1')
    malformed.write('PROXY TCP4 203.0.113.777 127.0.0.1 5555 443\r\n')
    expect(await closedWithin(malformed, 10_000), 'malformed closed').to.be.at.least(0)

    // no header: a trusted proxy's own upgrade still works
    const plain = await rawSocket(relay.port, '127.0.0.1')
    expect(await upgrade(plain, ['X-Forwarded-For: 198.51.100.1'])).to.equal('HTTP/1.1 101 Switching Protocols')
    plain.destroy()

    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="proxy_untrusted"')).to.equal(1)
    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="proxy_malformed"')).to.equal(1)
  })
})
