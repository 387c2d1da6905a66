import '../fixtures/datachannel-cleanup.ts'
import { createHmac } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { startRelayProgram } from '../../relay/relay.ts'
import { createMeshNode } from '../../src/index.ts'
import { RELAY_INFO_PROTOCOL, RelayInfo, iceServerHosts } from '../../src/relays/index.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { stopNodes, testNodeInit, waitForWebRTCAddress } from '../fixtures/options.ts'
import { tempKeyFile } from '../fixtures/relay-process.ts'
import type { RelayProgram } from '../../relay/relay.ts'
import type { MeshNodeInit, RelaymeshServices } from '../../src/index.ts'
import type { IceServer } from '../../src/relays/index.ts'
import type { Libp2p, Stream } from '@libp2p/interface'

type MeshNode = Libp2p<RelaymeshServices>

const TURN = { urls: ['turn:127.0.0.1:3478?transport=udp'], username: 'member', credential: 's3cret' }

describe('ICE servers handed out by relays', function () {
  this.timeout(120_000)
  let relay: RelayProgram | undefined
  let others: RelayProgram[] = []
  let nodes: MeshNode[] = []

  async function member (init: MeshNodeInit = {}): Promise<MeshNode> {
    const node = await createMeshNode(testNodeInit({ bootstrap: relay!.multiaddrs, relays: { relayCount: 1, discovery: false }, ...init }))
    nodes.push(node)
    return node
  }

  /** makes the relay answer relay-info requests with `answer` instead */
  async function hostile (answer: (stream: Stream) => Promise<void>, on: RelayProgram = relay!): Promise<void> {
    await on.node.unhandle(RELAY_INFO_PROTOCOL)
    await on.node.handle(RELAY_INFO_PROTOCOL, async (stream) => {
      await answer(stream)
      await stream.close()
    })
  }

  async function handOut (iceServers: IceServer[]): Promise<void> {
    await hostile(async stream => { await pbStream(stream).pb(RelayInfo).write({ iceServers }) })
  }

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
    await Promise.all(others.map(async other => other.stop()))
    others = []
    await relay?.stop()
    relay = undefined
  })

  it('a member that reserves on the relay gets its STUN server and --ice-server TURN servers', async () => {
    relay = await startRelayProgram({ port: 0, tcpPort: -1, keyFile: await tempKeyFile(), stunPort: 0, iceServers: [TURN] })
    expect(relay.iceServers).to.deep.equal([{ urls: [`stun:127.0.0.1:${relay.stun!.port}`] }, TURN])

    const node = await member()
    const { detail }: CustomEvent<{ iceServers: RTCIceServer[] }> = await pEvent(node.services.relays, 'relays:ice-servers-received', { timeout: 30_000 }) as CustomEvent
    expect(detail.iceServers).to.deep.equal(relay.iceServers)
    expect(node.services.relays.iceServers).to.deep.equal(relay.iceServers)
    expect(node.services.relays.selected[0].iceServers).to.deep.equal(relay.iceServers)
  })

  it('members\' ICE agents send Binding requests to the relay\'s STUN server during a WebRTC dial', async () => {
    relay = await startRelayProgram({ port: 0, tcpPort: -1, keyFile: await tempKeyFile(), stunPort: 0 })
    const a = await member()
    const b = await member()
    await Promise.all([a, b].map(async node => pWaitFor(() => node.services.relays.iceServers.length === 1, { timeout: 30_000 })))
    const answered = relay.stun!.stats.answered

    // two WebRTC peers in one process may fail a first DTLS handshake (see TOOLCHAIN.md); ICE has run by then
    await b.dial(await waitForWebRTCAddress(a), { signal: AbortSignal.timeout(20_000) }).catch(() => {})
    await pWaitFor(() => relay!.stun!.stats.answered - answered >= 2, { timeout: 10_000 })
  })

  it('asks again at every renewal (minted TURN credentials expire)', async () => {
    relay = await startRelayProgram({ port: 0, tcpPort: -1, keyFile: await tempKeyFile(), stunPort: 0, reservationTtl: 4 })
    const node = await member()
    await pWaitFor(() => node.services.relays.iceServers.length === 1, { timeout: 30_000 })
    let received = 0
    node.services.relays.addEventListener('relays:ice-servers-received', () => { received++ })
    await pEvent(node.services.relays, 'relays:reservation-renewed', { timeout: 30_000 })
    await pWaitFor(() => received >= 1, { timeout: 10_000 })
    expect(node.services.relays.iceServers).to.deep.equal(relay.iceServers)
  })

  it('mints TURN credentials only for peers holding a reservation, lasting about as long as it; none in /relaymesh.json', async () => {
    const secret = 'relaymesh-test-secret'
    const dir = await mkdtemp(join(tmpdir(), 'relaymesh-turn-'))
    await writeFile(join(dir, 'secret'), `${secret}\n`)
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>page</title>\n')
    const httpPort = await freePort()
    relay = await startRelayProgram({
      port: 0,
      tcpPort: -1,
      keyFile: await tempKeyFile(),
      stunPort: 0,
      httpPort,
      httpRoot: dir,
      reservationTtl: 600,
      iceServers: [{ urls: ['turn:127.0.0.1:3478?transport=udp'] }],
      turnSecretFile: join(dir, 'secret')
    })
    const stun = { urls: [`stun:127.0.0.1:${relay.stun!.port}`] }

    // anyone: the page's JSON has no minted credentials
    const info = await (await fetch(`http://127.0.0.1:${httpPort}/relaymesh.json`)).json()
    expect(info.iceServers).to.deep.equal([stun])

    // a peer without a reservation asking on relay-info: none either
    const stranger = await createMeshNode(testNodeInit({ listen: [], relays: { discovery: false }, dialPrivateAddresses: true }))
    nodes.push(stranger)
    const stream = await stranger.dialProtocol(relay.multiaddrs[0], RELAY_INFO_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const answer = await pbStream(stream).pb(RelayInfo).read()
    await stream.close()
    expect(answer.iceServers.map(s => ({ urls: s.urls, username: s.username, credential: s.credential }))).to.deep.equal([{ ...stun, username: undefined, credential: undefined }])

    // a member holding a reservation: credentials until the reservation's end plus 10 minutes
    const node = await member()
    await pWaitFor(() => node.services.relays.iceServers.length === 2, { timeout: 30_000 })
    const [, turn] = node.services.relays.iceServers
    const expiry = node.services.relays.selected[0].expiry / 1000
    expect(turn.urls).to.deep.equal(['turn:127.0.0.1:3478?transport=udp'])
    expect(Number(turn.username)).to.be.within(expiry + 600 - 30, expiry + 600 + 30)
    expect(turn.credential).to.equal(createHmac('sha1', secret).update(turn.username ?? '').digest('base64'))
  })

  it('adds the app\'s own iceServers to the handed-out ones', async () => {
    relay = await startRelayProgram({ port: 0, tcpPort: -1, keyFile: await tempKeyFile(), stunPort: 0 })
    const own = { urls: ['stun:127.0.0.1:9'] }
    const node = await member({ rtcConfiguration: { bindAddress: '127.0.0.1', iceServers: [own] } })
    await pWaitFor(() => node.services.relays.iceServers.length === 1, { timeout: 30_000 })

    // the WebRTC transport reads the configuration for every connection
    const webrtc = (node as any).components.transportManager.getTransports().find((t: any) => t[Symbol.toStringTag] === 'relaymesh/webrtc')
    const config = await webrtc.init.rtcConfiguration()
    expect(config.iceServers).to.deep.equal([own, ...relay.iceServers])
    expect(config.bindAddress).to.equal('127.0.0.1')
  })

  it('relayIceServers: false asks no relay: no STUN traffic to the relay during a WebRTC dial', async () => {
    relay = await startRelayProgram({ port: 0, tcpPort: -1, keyFile: await tempKeyFile(), stunPort: 0 })
    let asked = 0
    await hostile(async stream => { asked++; await pbStream(stream).pb(RelayInfo).write({ iceServers: relay!.iceServers.map(s => ({ urls: [s.urls].flat() })) }) })
    const a = await member({ relayIceServers: false })
    const b = await member({ relayIceServers: false })
    const addr = await waitForWebRTCAddress(a)
    await waitForWebRTCAddress(b)

    await b.dial(addr, { signal: AbortSignal.timeout(20_000) }).catch(() => {})
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(asked).to.equal(0)
    expect(a.services.relays.iceServers).to.deep.equal([])
    expect(relay.stun!.stats.answered).to.equal(0)
  })

  describe('a hostile relay', () => {
    async function refusal (init: MeshNodeInit = {}): Promise<{ node: MeshNode, error: Error }> {
      const node = await member(init)
      const { detail }: CustomEvent<{ error: Error }> = await pEvent(node.services.relays, 'relays:ice-servers-refused', { timeout: 30_000 }) as CustomEvent
      return { node, error: detail.error }
    }

    beforeEach(async () => {
      relay = await startRelayProgram({ port: 0, tcpPort: -1, keyFile: await tempKeyFile() })
    })

    it('cannot send members\' STUN/TURN traffic to another host', async () => {
      await handOut([{ urls: ['stun:127.0.0.1:3478'] }, { urls: ['turn:192.0.2.7:3478'], username: 'u', credential: 'p' }])
      const { node, error } = await refusal()
      expect(error.name).to.equal('InvalidIceServersError')
      expect(error.message).to.include('192.0.2.7')
      // refused whole: not even the server on the relay's host is used
      expect(node.services.relays.iceServers).to.deep.equal([])
      expect(node.services.relays.selected).to.have.length(1)
    })

    it('cannot widen the allowed hosts with addresses it announces in the DHT', async () => {
      // a second relay, found through the DHT only, whose provider record also lists 127.0.0.2
      // (a loopback stand-in for a victim's address; nothing listens on port 1 there)
      const port = await freePort()
      const other = await startRelayProgram({
        port,
        tcpPort: -1,
        keyFile: await tempKeyFile(),
        bootstrap: relay!.multiaddrs.map(String),
        announce: [`/ip4/127.0.0.1/tcp/${port}/ws`, '/ip4/127.0.0.2/tcp/1/ws']
      })
      others.push(other)
      await hostile(async stream => { await pbStream(stream).pb(RelayInfo).write({ iceServers: [{ urls: ['stun:127.0.0.2:3478'] }] }) }, other)

      const node = await member({ relays: { relayCount: 2, reevaluateInterval: 3000, backoffInitial: 500, backoffMax: 5000 } })
      const { detail }: CustomEvent<{ peerId: { toString(): string }, error: Error }> = await pEvent(node.services.relays, 'relays:ice-servers-refused', {
        timeout: 90_000,
        filter: (evt: CustomEvent<{ peerId: { toString(): string } }>) => evt.detail.peerId.toString() === other.node.peerId.toString()
      }) as CustomEvent
      const candidate = node.services.relays.candidates.find(c => c.peerId.equals(other.node.peerId))
      expect(candidate?.source).to.equal('dht')
      expect(candidate?.addrs.some(a => a.toString().startsWith('/ip4/127.0.0.2/')), candidate?.addrs.join(' ')).to.be.true()
      expect(detail.error.name).to.equal('InvalidIceServersError')
      expect(detail.error.message).to.include('127.0.0.2')
      expect(node.services.relays.iceServers.flatMap(s => s.urls)).to.not.include('stun:127.0.0.2:3478')
    })

    it('...only the connection\'s host and the app\'s bootstrap addresses for that relay are allowed', () => {
      const peer = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
      const other = peerIdFromString('12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq')
      const hosts = iceServerHosts(multiaddr(`/ip4/127.0.0.1/tcp/4001/ws/p2p/${peer}`), peer, [
        multiaddr(`/dns4/Relay.Example.com/tcp/443/wss/p2p/${peer}`),
        multiaddr(`/ip6/2001:db8::1/tcp/443/wss/p2p/${peer}`),
        multiaddr(`/ip4/192.0.2.7/tcp/443/wss/p2p/${other}`),
        multiaddr('/ip4/192.0.2.8/tcp/443/wss')
      ])
      expect([...hosts].sort()).to.deep.equal(['127.0.0.1', '2001:db8::1', 'relay.example.com'])
    })

    it('...unless the member allows it with relayIceServers: \'any-host\'', async () => {
      const servers = [{ urls: ['stun:192.0.2.7:3478'] }]
      await handOut(servers)
      const node = await member({ relayIceServers: 'any-host' })
      await pWaitFor(() => node.services.relays.iceServers.length === 1, { timeout: 30_000 })
      expect(node.services.relays.iceServers).to.deep.equal(servers)
    })

    it('cannot rewrite Node members\' TURN URLs with characters in the credentials', async () => {
      // node-datachannel builds `turn:${username}:${credential}@${host}`: these would send the
      // TURN Allocates to 192.0.2.7, or make every new RTCPeerConnection throw
      const cases: Array<Pick<IceServer, 'username' | 'credential'>> = [
        { username: 'u', credential: 'b@192.0.2.7:3478?transport=udp#' },
        { username: 'u', credential: 'b@h:abc' },
        { username: 'u:x@192.0.2.7', credential: 'p' },
        { username: 'u', credential: 'p%40q' },
        { username: 'u', credential: 'p q' }
      ]

      for (const credentials of cases) {
        await handOut([{ urls: ['turn:127.0.0.1:3478?transport=udp'], ...credentials }])
        const { node, error } = await refusal()
        expect(error.name, JSON.stringify(credentials)).to.equal('InvalidIceServersError')
        expect(error.message).to.match(/holds a character other than/)
        expect(node.services.relays.iceServers).to.deep.equal([])
        await stopNodes([node])
        nodes = nodes.filter(n => n !== node)
      }
    })

    it('refuses an oversized answer', async () => {
      await hostile(async stream => {
        await pbStream(stream, { maxDataLength: 1024 * 1024 }).pb(RelayInfo).write({ iceServers: [{ urls: [`stun:${'a'.repeat(100_000)}`] }] })
      })
      const { node, error } = await refusal()
      expect(error.name).to.equal('InvalidIceServersError')
      expect(error.message).to.match(/too long/i)
      expect(node.services.relays.iceServers).to.deep.equal([])
    })

    it('refuses too many servers, other schemes, long URLs and TURN without credentials', async () => {
      const cases: Array<[IceServer[], RegExp]> = [
        [Array.from({ length: 9 }, (_, i) => ({ urls: [`stun:127.0.0.1:${3000 + i}`] })), /9 ICE servers, at most 8/],
        [[{ urls: ['http://127.0.0.1/'] }], /not a stun:/],
        [[{ urls: ['stun:127.0.0.1:3478', 'stun:127.0.0.1:3479', 'stun:127.0.0.1:3480', 'stun:127.0.0.1:3481', 'stun:127.0.0.1:3482'] }], /5 URLs/],
        [[{ urls: [`stun:127.0.0.1:3478?x=${'a'.repeat(300)}`] }], /not a stun:/],
        [[{ urls: ['turn:127.0.0.1:3478'] }], /without a username/],
        [[{ urls: ['turn:127.0.0.1:3478'], username: 'u', credential: 'p'.repeat(300) }], /longer than 256/],
        [[{ urls: ['turn:127.0.0.1:3478'], username: '', credential: 'p' }], /empty or holds a character/]
      ]

      for (const [servers, message] of cases) {
        await handOut(servers)
        const { node, error } = await refusal()
        expect(error.name).to.equal('InvalidIceServersError')
        expect(error.message).to.match(message)
        expect(node.services.relays.iceServers).to.deep.equal([])
        await stopNodes([node])
        nodes = nodes.filter(n => n !== node)
      }
    })
  })
})
