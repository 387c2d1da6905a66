import '../fixtures/datachannel-cleanup.ts'
import { readFileSync } from 'node:fs'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { HopMessage, Status } from '../../src/circuit/index.ts'
import { stopNodes } from '../fixtures/options.ts'
import { closedWithin, frameHeader, pour, rawSocket, startHostileRelay, upgrade, wsClient } from '../fixtures/raw-ws.ts'
import { hopRequest } from '../relay-server/fixtures.ts'
import type { HostileRelay } from '../fixtures/raw-ws.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Socket } from 'node:net'

const MiB = 1024 * 1024

/** the resident set size of process `pid`, in bytes */
function rss (pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find(l => l.startsWith('VmRSS:'))
  return Number(line?.split(/\s+/)[1]) * 1024
}

describe('relay program: hostile WebSocket clients', function () {
  this.timeout(120_000)
  let relays: RelayProcess[] = []
  let sockets: Socket[] = []
  let nodes: Libp2p[] = []

  afterEach(async () => {
    sockets.forEach(socket => socket.destroy())
    sockets = []
    await stopNodes(nodes)
    nodes = []
    await Promise.all(relays.map(async relay => relay.stop()))
    relays = []
  })

  async function open (port: number, from?: string): Promise<Socket> {
    const socket = await rawSocket(port, from)
    sockets.push(socket)
    return socket
  }

  /** an honest client reserves on the relay's WebSocket address */
  async function honestReserve (relay: HostileRelay): Promise<void> {
    const node = await wsClient()
    nodes.push(node)
    const response = await hopRequest(node, multiaddr(relay.relay.wsAddr), { type: HopMessage.Type.RESERVE })
    expect(response.status).to.equal(Status.OK)
  }

  it('closes a connection whose WebSocket frame is larger than --ws-max-frame, without buffering it', async () => {
    const relay = await startHostileRelay(['--ws-max-frame', `${256 * 1024}`], relays)
    const pid = relay.relay.process.pid!
    const before = rss(pid)

    const attempts = await Promise.all([0, 1, 2].map(async () => {
      const socket = await open(relay.port)
      expect(await upgrade(socket)).to.equal('HTTP/1.1 101 Switching Protocols')
      socket.write(frameHeader(95 * MiB))
      const sent = await pour(socket, 40 * MiB)
      return { sent, closedIn: await closedWithin(socket, 10_000) }
    }))
    const grown = rss(pid) - before

    // buffering one frame alone would take 40 MiB; the rest of the margin is
    // garbage not yet collected on a loaded machine
    expect(grown, `relay RSS grew by ${(grown / MiB).toFixed(1)} MiB`).to.be.below(32 * MiB)
    for (const { closedIn } of attempts) {
      expect(closedIn, 'the relay closed the connection').to.be.at.least(0)
    }
    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="frame_too_large"')).to.equal(3)
    await honestReserve(relay)
  })

  it('closes a silent socket after --ws-idle-timeout', async () => {
    const relay = await startHostileRelay(['--ws-idle-timeout', '1', '--ws-upgrade-timeout', '60'], relays)
    const socket = await open(relay.port)
    const closedIn = await closedWithin(socket, 15_000)

    expect(closedIn, 'closed').to.be.within(500, 15_000)
    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="idle_timeout"')).to.equal(1)
    await honestReserve(relay)
  })

  it('closes an upgraded WebSocket that goes silent after --ws-idle-timeout too', async () => {
    const relay = await startHostileRelay(['--ws-idle-timeout', '1', '--ws-upgrade-timeout', '60'], relays)
    const socket = await open(relay.port)
    expect(await upgrade(socket)).to.equal('HTTP/1.1 101 Switching Protocols')
    const closedIn = await closedWithin(socket, 15_000)

    expect(closedIn, 'closed').to.be.within(500, 15_000)
    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="idle_timeout"')).to.equal(1)
  })

  it('closes a half-sent HTTP request after --ws-upgrade-timeout, even while it trickles in', async () => {
    const relay = await startHostileRelay(['--ws-upgrade-timeout', '2', '--ws-idle-timeout', '60'], relays)
    const socket = await open(relay.port)
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n')
    const trickle = setInterval(() => { socket.write('X') }, 300)

    try {
      const closedIn = await closedWithin(socket, 15_000)
      expect(closedIn, 'closed').to.be.within(1000, 15_000)
    } finally {
      clearInterval(trickle)
    }

    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="upgrade_timeout"')).to.equal(1)
    await honestReserve(relay)
  })

  it('refuses sockets not yet upgraded past --ws-max-unupgraded-per-ip and --ws-max-unupgraded', async () => {
    const relay = await startHostileRelay(['--ws-max-unupgraded-per-ip', '2', '--ws-max-unupgraded', '4', '--ws-idle-timeout', '60', '--ws-upgrade-timeout', '60'], relays)
    const first = await Promise.all([open(relay.port), open(relay.port)])
    const third = await open(relay.port)

    expect(await closedWithin(third, 10_000), 'a third from 127.0.0.1 is closed').to.be.at.least(0)
    // the others from 127.0.0.1 stay
    expect(await closedWithin(first[0], 500)).to.equal(-1)

    const others = await Promise.all([open(relay.port, '127.0.0.2'), open(relay.port, '127.0.0.3')])
    const fifth = await open(relay.port, '127.0.0.4')
    expect(await closedWithin(fifth, 10_000), 'a fifth in all is closed').to.be.at.least(0)
    expect(await closedWithin(others[1], 500)).to.equal(-1)

    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="refused_pending_per_ip"')).to.equal(1)
    expect(await relay.metric('relaymesh_relay_websocket_events_total', 'event="refused_pending_total"')).to.equal(1)
    expect(await relay.metric('relaymesh_relay_websocket_sockets', 'state="pending"')).to.equal(4)

    // once they go, honest clients get in
    ;[...first, ...others].forEach(socket => socket.destroy())
    await pWaitFor(async () => await relay.metric('relaymesh_relay_websocket_sockets', 'state="pending"') === 0, { timeout: 10_000, interval: 100 })
    await honestReserve(relay)
  })
})
