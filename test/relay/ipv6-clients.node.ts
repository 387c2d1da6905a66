import '../fixtures/datachannel-cleanup.ts'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { track } from '../fixtures/children.ts'
import { NETNS_PREFIX, removeNamespace, skipWithoutNetns, spawnIn } from '../fixtures/netns.ts'
import { rawSocket, startHostileRelay, upgrade } from '../fixtures/raw-ws.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'

const run = promisify(execFile)

/** a client in namespace `ns`: two WebSocket upgrades to `host` (zone included) one after the other; prints each answer's status line */
const CLIENT = `
const net = require('node:net')
const [host, port] = process.argv.slice(-2)
const request = ['GET / HTTP/1.1', 'Host: relay', 'Upgrade: websocket', 'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', ''].join('\\r\\n')
const once = () => new Promise(resolve => {
  const socket = net.connect({ host, port: Number(port) })
  let text = ''
  socket.setTimeout(10000, () => socket.destroy())
  socket.on('error', err => { text += 'error ' + err.code })
  socket.on('data', data => { text += data.toString('latin1'); if (text.includes('\\r\\n\\r\\n')) socket.end() })
  socket.on('close', () => resolve(text.split('\\r\\n')[0]))
  socket.write(request)
})
;(async () => { console.log(JSON.stringify([await once(), await once()])) })()
`

/**
 * The relays and network namespaces a test makes: stopped and removed after
 * each test of the describe block that calls this
 */
function madePerTest (): { relays: RelayProcess[], namespaces: string[] } {
  const made = { relays: [] as RelayProcess[], namespaces: [] as string[] }

  afterEach(async () => {
    await Promise.all(made.relays.splice(0).map(async relay => relay.stop()))

    for (const ns of made.namespaces.splice(0)) {
      await removeNamespace(ns)
    }
  })

  return made
}

describe('relay program: clients with link-local IPv6 addresses', function () {
  this.timeout(60_000)
  const { relays, namespaces } = madePerTest()

  it('accepts a client connecting from fe80::…%iface (a veth pair between two namespaces)', async function () {
    await skipWithoutNetns(this)

    const relayNs = `${NETNS_PREFIX}${process.pid}-ll-relay`
    const clientNs = `${NETNS_PREFIX}${process.pid}-ll-client`

    for (const ns of [relayNs, clientNs]) {
      await run('ip', ['netns', 'add', ns])
      namespaces.push(ns)
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    }

    // only link-local addresses, fixed and without duplicate address detection, so usable at once
    await run('ip', ['-n', relayNs, 'link', 'add', 'name', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', clientNs])
    await run('ip', ['-n', relayNs, 'addr', 'add', 'fe80::1/64', 'dev', 'va', 'nodad'])
    await run('ip', ['-n', clientNs, 'addr', 'add', 'fe80::2/64', 'dev', 'vb', 'nodad'])
    await run('ip', ['-n', relayNs, 'link', 'set', 'va', 'up'])
    await run('ip', ['-n', clientNs, 'link', 'set', 'vb', 'up'])

    const relay = await startRelayProcess(['--host', '::', '--tcp-port', 'off'], undefined, { netns: relayNs })
    relays.push(relay)
    const port = /\/tcp\/(\d+)\//.exec(relay.wsAddr)?.[1] ?? ''

    const client = spawnIn(clientNs, process.execPath, ['-e', CLIENT, 'fe80::1%vb', port], { stdio: ['ignore', 'pipe', 'inherit'] })
    track(client)
    let out = ''
    client.stdout?.on('data', (b: Buffer) => { out += b.toString() })
    await new Promise(resolve => client.once('exit', resolve))

    // the second upgrade is answered too: the relay survived the first
    expect(JSON.parse(out)).to.deep.equal(['HTTP/1.1 101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols'])
    expect(relay.process.exitCode).to.equal(null)
  })
})

/**
 * A client in the relay's namespace: a socket to `port` from each of `sources`
 * (arguments: one JSON array) that sends nothing, waiting for its upgrade; prints which were closed
 * within 3 s and the relay's refused_pending_per_ip count
 */
const SILENT = `
const net = require('node:net')
const [port, metricsPort, ...sources] = JSON.parse(process.argv.at(-1))
const states = sources.map(localAddress => new Promise(resolve => {
  const socket = net.connect({ host: '::1', port: Number(port), localAddress })
  socket.on('error', () => {})
  const timer = setTimeout(() => { socket.destroy(); resolve('open') }, 3000)
  socket.on('close', () => { clearTimeout(timer); resolve('closed') })
}))
;(async () => {
  const closed = await Promise.all(states)
  const text = await (await fetch('http://127.0.0.1:' + metricsPort + '/metrics')).text()
  const line = text.split('\\n').find(l => l.startsWith('relaymesh_relay_websocket_events_total{event="refused_pending_per_ip"} '))
  console.log(JSON.stringify({ closed, refused: line == null ? 0 : Number(line.split(' ').pop()) }))
})()
`

describe('relay program: sockets not yet upgraded, per IPv6 /64', function () {
  this.timeout(60_000)
  const { relays, namespaces } = madePerTest()

  it('counts --ws-max-unupgraded-per-ip by /64, not by exact address', async function () {
    await skipWithoutNetns(this)

    // one namespace, its loopback holding three addresses of one /64 and one of another
    const ns = `${NETNS_PREFIX}${process.pid}-ll-64`
    await run('ip', ['netns', 'add', ns])
    namespaces.push(ns)
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    const sources = ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2::c', '2001:db8:1:3::a']

    for (const source of sources) {
      await run('ip', ['-n', ns, 'addr', 'add', `${source}/128`, 'dev', 'lo', 'nodad'])
    }

    // the namespace is ours alone: fixed ports cannot collide
    const relay = await startRelayProcess(['--host', '::', '--tcp-port', 'off', '--port', '9000', '--metrics-port', '9100', '--ws-max-unupgraded-per-ip', '2'], undefined, { netns: ns })
    relays.push(relay)

    const client = spawnIn(ns, process.execPath, ['-e', SILENT, JSON.stringify([9000, 9100, ...sources])], { stdio: ['ignore', 'pipe', 'inherit'] })
    track(client)
    let out = ''
    client.stdout?.on('data', (b: Buffer) => { out += b.toString() })
    await new Promise(resolve => client.once('exit', resolve))

    // the third of 2001:db8:1:2::/64 is refused; the other /64 is not
    expect(JSON.parse(out)).to.deep.equal({ closed: ['open', 'open', 'closed', 'open'], refused: 1 })
  })
})

describe('relay program: a trusted proxy naming a link-local IPv6 client', function () {
  this.timeout(60_000)
  const relays: RelayProcess[] = []

  afterEach(async () => {
    await Promise.all(relays.splice(0).map(async relay => relay.stop()))
  })

  for (const [name, prelude, headers] of [
    ['a PROXY v1 header', 'PROXY TCP6 fe80::7%eth0 ::1 5555 443\r\n', []],
    ['X-Forwarded-For', '', ['X-Forwarded-For: fe80::7%eth0']]
  ] as const) {
    it(`survives ${name} with fe80::…%zone`, async () => {
      const relay = await startHostileRelay(['--trust-proxy', '127.0.0.1/32'], relays)

      for (let i = 0; i < 2; i++) {
        const socket = await rawSocket(relay.port, '127.0.0.1')
        socket.write(prelude)
        expect(await upgrade(socket, [...headers])).to.equal('HTTP/1.1 101 Switching Protocols')
        socket.destroy()
      }

      expect(relay.relay.process.exitCode).to.equal(null)
      expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="upgraded"')).to.equal(2)
    })
  }
})

describe('relay program: a trusted proxy\'s X-Forwarded-For clients and --ws-max-unupgraded-per-ip', function () {
  this.timeout(60_000)
  const relays: RelayProcess[] = []

  afterEach(async () => {
    await Promise.all(relays.splice(0).map(async relay => relay.stop()))
  })

  it('counts an X-Forwarded-For client with the PROXY-header clients of its address', async () => {
    const relay = await startHostileRelay(['--trust-proxy', '127.0.0.1/32', '--ws-max-unupgraded-per-ip', '1'], relays)

    // 198.51.100.1 has one socket waiting for its upgrade, through a PROXY header
    const waiting = await rawSocket(relay.port, '127.0.0.1')
    waiting.write('PROXY TCP4 198.51.100.1 127.0.0.1 5555 443\r\n')
    await pWaitFor(async () => (await relay.metric('relaymesh_relay_websocket_sockets', 'state="pending"')) === 1, { timeout: 10_000 })

    // the same address through X-Forwarded-For is over the cap; another is not
    const same = await rawSocket(relay.port, '127.0.0.1')
    await expect(upgrade(same, ['X-Forwarded-For: 198.51.100.1'])).to.eventually.be.rejectedWith(/closed before the upgrade answer/)
    const other = await rawSocket(relay.port, '127.0.0.1')
    expect(await upgrade(other, ['X-Forwarded-For: 198.51.100.2'])).to.equal('HTTP/1.1 101 Switching Protocols')

    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="refused_pending_per_ip"')).to.equal(1)
    waiting.destroy()
    other.destroy()
  })
})
