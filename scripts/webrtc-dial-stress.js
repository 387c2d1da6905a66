#!/usr/bin/env node
// WebRTC-over-circuit-relay dial stress test (loopback only).
//
//   npx node scripts/webrtc-dial-stress.js [--pairs N] [--processes] [--peers P]
//                                          [--concurrency C] [--dial-timeout MS]
//                                          [--ndc-log Verbose|Debug|Info|...]
//                                          [--transport relaymesh|stock]
//
// The parent process runs a stock circuit relay v2 server (libp2p + websockets on
// /ip4/127.0.0.1/tcp/0/ws, reservations.maxReservations raised, applyDefaultLimit
// false, inbound rate limits raised). P peers (default 4) reserve a slot on it by
// listening on '/p2p-circuit' and '/webrtc':
//   --processes   one child process per peer (cross-process dials: where the
//                 @libp2p/webrtc DTLS fault shows most)
//   (default)     all P peers in one child process (same-process dials)
// The parent then runs N (--pairs, default 100) dial attempts, round-robin over
// the ordered peer pairs, at most C (--concurrency, default 2) at a time and never
// two at once involving the same peer. Each attempt: peer i dials peer j's
// /p2p-circuit/webrtc address with no existing connection to j; success means the
// dial returned a WebRTC connection and an 8-byte echo over it came back. Both
// sides then hang up so the next attempt between them starts fresh.
// --transport picks the WebRTC transport of the peers: relaymesh's own
// (`meshWebRTC` from dist/src/webrtc, with the fixes of docs/webrtc-fixes.md;
// the default, needs `npm run build`) or stock `@libp2p/webrtc` (`webRTC`).
// The summary is printed to stdout as JSON (progress goes to stderr):
//   transport           which WebRTC transport the peers used
//   success/failures    attempt counts, errors: failures grouped by message
//   dialMs              dial() until the WebRTC connection is returned, successful
//                       attempts: n/median/p90/max (dialToEchoMs: until the echo)
//   dialsOver900Ms      successful dials that waited for a DTLS retransmission
//   failedAttemptMs     how long failed attempts took (6 s = libp2p's per-address
//                       dial timeout)
//   leftoverPeerConnectionsAfterHangUp  peer-to-peer connections still open at
//                       the end (0 expected)
// --ndc-log LEVEL turns on libdatachannel's log in the peer processes (to stderr,
// with absolute millisecond timestamps so processes can be lined up).
//
// All traffic stays on 127.0.0.1: the relay listens there, WebRTC gets no STUN/
// TURN servers (iceServers: []) and node-datachannel's ICE agent is bound to
// 127.0.0.1 (bindAddress, passed through RTCPeerConnection's config).
// Every process calls node-datachannel's cleanup() before exiting, otherwise its
// native threads keep the process alive.

import { fork } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { echo, lpStream } from '@libp2p/utils'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { cleanup as ndcCleanup, initLogger } from 'node-datachannel'
import { meshWebRTC } from '../dist/src/webrtc/index.js'

const ECHO_PROTOCOL = '/relaymesh/stress-echo/1.0.0'
const RTC_CONFIGURATION = { iceServers: [], bindAddress: '127.0.0.1' }
const RAISED_LIMITS = { inboundConnectionThreshold: 100_000, maxIncomingPendingConnections: 1_000 }

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '100' },
    peers: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '2' },
    processes: { type: 'boolean', default: false },
    'dial-timeout': { type: 'string', default: '30000' },
    'ndc-log': { type: 'string' },
    transport: { type: 'string', default: 'relaymesh' },
    // internal: child mode
    child: { type: 'boolean', default: false },
    relay: { type: 'string' },
    'peer-count': { type: 'string', default: '1' },
    'first-index': { type: 'string', default: '0' }
  }
})

function log (...parts) {
  process.stderr.write(parts.join(' ') + '\n')
}

async function shutdown (nodes, code = 0) {
  await Promise.allSettled(nodes.map(async n => n.stop()))
  ndcCleanup()
  process.exit(code)
}

// ---------------------------------------------------------------- child (peers)

async function createPeer (relayAddr) {
  const node = await createLibp2p({
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [
      webSockets(),
      circuitRelayTransport(),
      (args.transport === 'stock' ? webRTC : meshWebRTC)({ rtcConfiguration: { ...RTC_CONFIGURATION } })
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    // every relayed/WebRTC inbound connection carries the relay's IP (127.0.0.1):
    // the default 5/s per-IP threshold would throttle the test, not the transport
    connectionManager: { ...RAISED_LIMITS },
    services: { identify: identify() }
  })
  await node.handle(ECHO_PROTOCOL, (stream) => echo(stream), { runOnLimitedConnection: false })
  await node.dial(multiaddr(relayAddr))
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const addr = node.getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit/webrtc'))
    if (addr != null) { return { node, addr } }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  throw new Error('no /p2p-circuit/webrtc address after 20 s')
}

// connections to other peers (the one to the relay is expected to stay)
function peerConnections (node) {
  const relayPeer = args.relay.split('/p2p/').pop()
  return node.getConnections().filter(c => c.remotePeer.toString() !== relayPeer)
}

async function runChild () {
  if (args['ndc-log'] != null) {
    initLogger(args['ndc-log'], (level, message) => {
      process.stderr.write(`[pid ${process.pid} ${(performance.timeOrigin + performance.now()).toFixed(2)} ${level}] ${message}\n`)
    })
  }
  const firstIndex = Number(args['first-index'])
  const peers = []
  process.on('SIGTERM', () => { void shutdown(peers.map(p => p.node), 1) })
  process.on('disconnect', () => { void shutdown(peers.map(p => p.node), 1) })
  for (let k = 0; k < Number(args['peer-count']); k++) {
    peers.push(await createPeer(args.relay))
  }
  process.send({
    type: 'ready',
    peers: peers.map((p, k) => ({ index: firstIndex + k, peerId: p.node.peerId.toString(), addr: p.addr }))
  })

  process.on('message', (msg) => {
    const node = peers[msg.local - firstIndex]?.node
    void (async () => {
      switch (msg.type) {
        case 'dial': {
          const target = multiaddr(msg.addr)
          const preexisting = node.getConnections().filter(c => c.remotePeer.toString() === msg.peerId).length
          const start = performance.now()
          // first time each progress event of the dial was seen, ms after dial()
          const phases = {}
          const onProgress = (evt) => {
            phases[evt.type] ??= Number((performance.now() - start).toFixed(1))
          }
          try {
            const conn = await node.dial(target, { signal: AbortSignal.timeout(Number(args['dial-timeout'])), onProgress })
            const dialMs = performance.now() - start
            if (!conn.remoteAddr.toString().includes('/webrtc')) {
              throw new Error(`dial returned a non-WebRTC connection: ${conn.remoteAddr}`)
            }
            const stream = await conn.newStream(ECHO_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
            const lp = lpStream(stream)
            const payload = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])
            await lp.write(payload, { signal: AbortSignal.timeout(5_000) })
            const back = await lp.read({ signal: AbortSignal.timeout(5_000) })
            if (back.subarray().length !== payload.length) { throw new Error('echo mismatch') }
            await stream.close().catch(() => {})
            process.send({ type: 'result', id: msg.id, ok: true, dialMs, totalMs: performance.now() - start, preexisting, phases })
          } catch (err) {
            process.send({
              type: 'result',
              id: msg.id,
              ok: false,
              dialMs: performance.now() - start,
              error: `${err.name}: ${err.message}`,
              preexisting,
              phases
            })
          }
          break
        }
        case 'hangup': {
          await node.hangUp(peerIdFromString(msg.peerId)).catch(() => {})
          process.send({ type: 'done', id: msg.id })
          break
        }
        case 'stats': {
          process.send({
            type: 'stats',
            id: msg.id,
            peers: peers.map(p => {
              const conns = peerConnections(p.node)
              return { connections: conns.length, webrtc: conns.filter(c => c.remoteAddr.toString().includes('/webrtc')).length }
            })
          })
          break
        }
        case 'exit':
          await shutdown(peers.map(p => p.node), 0)
          break
        default:
          break
      }
    })().catch(err => {
      log('child error', err.stack)
      process.send({ type: 'error', id: msg.id, error: err.message })
    })
  })
}

// ---------------------------------------------------------------- parent (relay)

function quantile (sorted, q) {
  if (sorted.length === 0) { return null }
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return Number((sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)).toFixed(1))
}

function summarize (values) {
  const s = [...values].sort((a, b) => a - b)
  return {
    n: s.length,
    median: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    max: s.length > 0 ? Number(s[s.length - 1].toFixed(1)) : null
  }
}

async function runParent () {
  const pairs = Number(args.pairs)
  const peerCount = Number(args.peers)
  const concurrency = Number(args.concurrency)
  if (peerCount < 2) { throw new Error('--peers must be >= 2') }

  const relay = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0/ws'] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { ...RAISED_LIMITS, maxConnections: 10_000 },
    services: {
      identify: identify(),
      relay: circuitRelayServer({
        reservations: { maxReservations: 10_000, applyDefaultLimit: false }
      })
    }
  })
  const relayAddr = relay.getMultiaddrs()[0].toString()
  log(`relay listening on ${relayAddr}`)

  const children = []
  const byIndex = new Map() // peer index -> { child, peerId, addr }
  const pending = new Map()
  let nextId = 0
  const request = (child, msg, timeoutMs = 120_000) => new Promise((resolve, reject) => {
    const id = nextId++
    const timer = setTimeout(() => {
      pending.delete(id)
      reject(new Error(`no reply to ${msg.type} within ${timeoutMs} ms`))
    }, timeoutMs)
    pending.set(id, (reply) => {
      clearTimeout(timer)
      if (reply.type === 'error') { reject(new Error(`child: ${reply.error}`)) } else { resolve(reply) }
    })
    child.send({ ...msg, id })
  })

  const layout = args.processes
    ? Array.from({ length: peerCount }, (_, i) => ({ first: i, count: 1 }))
    : [{ first: 0, count: peerCount }]
  const startSpawn = performance.now()
  await Promise.all(layout.map(({ first, count }) => new Promise((resolve, reject) => {
    const childArgs = ['--child', '--transport', args.transport, '--relay', relayAddr, '--peer-count', String(count), '--first-index', String(first),
      '--dial-timeout', args['dial-timeout']]
    if (args['ndc-log'] != null) { childArgs.push('--ndc-log', args['ndc-log']) }
    const child = fork(process.argv[1], childArgs, { execPath: process.execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.push(child)
    child.on('message', (msg) => {
      if (msg.type === 'ready') {
        for (const p of msg.peers) { byIndex.set(p.index, { child, ...p }) }
        resolve()
        return
      }
      const done = pending.get(msg.id)
      if (done != null) {
        pending.delete(msg.id)
        done(msg)
      }
    })
    child.on('exit', (code) => { if (code !== 0) { reject(new Error(`child exited with ${code}`)) } })
    child.on('error', reject)
  })))
  const setupMs = performance.now() - startSpawn
  log(`${peerCount} peers reserved in ${layout.length} process(es) after ${setupMs.toFixed(0)} ms`)

  // round-robin over ordered pairs (i -> j)
  const ordered = []
  for (let i = 0; i < peerCount; i++) {
    for (let j = 0; j < peerCount; j++) {
      if (i !== j) {
        ordered.push([i, j])
      }
    }
  }
  const queue = Array.from({ length: pairs }, (_, k) => ordered[k % ordered.length])

  const results = []
  const busy = new Set()
  const waiter = { wake: () => {} }
  const startDials = performance.now()

  async function attempt ([i, j], n) {
    const from = byIndex.get(i)
    const to = byIndex.get(j)
    const res = await request(from.child, { type: 'dial', local: i, addr: to.addr, peerId: to.peerId })
    results.push({ n, from: i, to: j, ...res })
    log(`#${n} ${i}->${j} ${res.ok ? 'ok' : 'FAIL'} ${res.dialMs.toFixed(0)} ms${res.ok ? '' : ' ' + res.error}`)
    await Promise.all([
      request(from.child, { type: 'hangup', local: i, peerId: to.peerId }),
      request(to.child, { type: 'hangup', local: j, peerId: from.peerId })
    ])
  }

  let started = 0
  const running = new Set()
  while (queue.length > 0 || running.size > 0) {
    let idx = -1
    if (running.size < concurrency) {
      idx = queue.findIndex(([i, j]) => !busy.has(i) && !busy.has(j))
    }
    if (idx === -1) {
      await new Promise(resolve => { waiter.wake = resolve })
      continue
    }
    const pair = queue.splice(idx, 1)[0]
    busy.add(pair[0]); busy.add(pair[1])
    const p = attempt(pair, started++).finally(() => {
      busy.delete(pair[0]); busy.delete(pair[1])
      running.delete(p)
      waiter.wake()
    })
    running.add(p)
  }
  const dialsMs = performance.now() - startDials

  // let closes propagate, then count leftover connections on the peers
  await new Promise(resolve => setTimeout(resolve, 1_000))
  const leftover = []
  for (const child of children) {
    const first = [...byIndex.values()].find(p => p.child === child).index
    const s = await request(child, { type: 'stats', local: first })
    leftover.push(...s.peers)
  }

  const ok = results.filter(r => r.ok)
  const failed = results.filter(r => !r.ok)
  const errors = {}
  for (const r of failed) {
    const key = r.error.replace(/[0-9a-zA-Z]{46,}/g, '<id>')
    errors[key] = (errors[key] ?? 0) + 1
  }
  const summary = {
    transport: args.transport === 'stock' ? '@libp2p/webrtc (stock)' : 'relaymesh meshWebRTC',
    mode: args.processes ? 'cross-process (1 peer per child process)' : 'same-process (all peers in 1 child process)',
    peers: peerCount,
    processes: layout.length,
    concurrency,
    attempts: results.length,
    success: ok.length,
    failures: failed.length,
    failureRate: Number((failed.length / results.length).toFixed(3)),
    errors,
    dialMs: summarize(ok.map(r => r.dialMs)),
    // successful dials that took >= 900 ms: almost always a DTLS ClientHello
    // that waited for its 1 s retransmission (see docs/webrtc-fixes.md)
    dialsOver900Ms: ok.filter(r => r.dialMs >= 900).length,
    dialToEchoMs: summarize(ok.map(r => r.totalMs)),
    failedAttemptMs: summarize(failed.map(r => r.dialMs)),
    // median time (ms after dial()) at which each dial progress event first fired, successful dials
    phaseMedianMs: Object.fromEntries(
      [...new Set(ok.flatMap(r => Object.keys(r.phases ?? {})))]
        .map(type => [type, summarize(ok.map(r => r.phases?.[type]).filter(v => v != null)).median])
        .sort((a, b) => a[1] - b[1])
    ),
    // each failed attempt with the last dial progress event it reached
    failedAttempts: failed.map(r => {
      const last = Object.entries(r.phases ?? {}).sort((a, b) => b[1] - a[1])[0]
      return { n: r.n, from: r.from, to: r.to, error: r.error, lastProgress: last == null ? null : `${last[0]} @ ${last[1]} ms` }
    }),
    attemptsWithPreexistingConnection: results.filter(r => r.preexisting > 0).length,
    leftoverPeerConnectionsAfterHangUp: {
      total: leftover.reduce((a, p) => a + p.connections, 0),
      webrtc: leftover.reduce((a, p) => a + p.webrtc, 0)
    },
    setupMs: Math.round(setupMs),
    dialPhaseMs: Math.round(dialsMs)
  }
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n')

  await Promise.all(children.map(child => new Promise(resolve => {
    const t = setTimeout(() => { child.kill('SIGKILL'); resolve() }, 10_000)
    child.once('exit', () => { clearTimeout(t); resolve() })
    child.send({ type: 'exit', local: [...byIndex.values()].find(p => p.child === child).index })
  })))
  await shutdown([relay], 0)
}

if (args.child) {
  runChild().catch(err => { log('child failed:', err.stack); ndcCleanup(); process.exit(1) })
} else {
  runParent().catch(err => { log('stress failed:', err.stack); ndcCleanup(); process.exit(1) })
}
