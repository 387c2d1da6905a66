import '../fixtures/datachannel-cleanup.ts'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { track } from '../fixtures/children.ts'
import { NETNS_PREFIX, netnsUnavailable, removeNamespace, spawnIn } from '../fixtures/netns.ts'
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

describe('relay program: clients with link-local IPv6 addresses', function () {
  this.timeout(60_000)
  const relays: RelayProcess[] = []
  const namespaces: string[] = []

  afterEach(async () => {
    await Promise.all(relays.splice(0).map(async relay => relay.stop()))

    for (const ns of namespaces.splice(0)) {
      await removeNamespace(ns)
    }
  })

  it('accepts a client connecting from fe80::…%iface (a veth pair between two namespaces)', async function () {
    const missing = await netnsUnavailable()

    if (missing != null) {
      // eslint-disable-next-line no-console
      console.warn(`skipped: ${missing}`)
      this.skip()
    }

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
