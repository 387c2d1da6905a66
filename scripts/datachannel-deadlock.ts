/**
 * Reproduces node-datachannel's native deadlock (docs/webrtc-fixes.md,
 * fault 3) in this process: round after round, coturn, a relay program and
 * two members limited to relay (TURN) candidates, one WebRTC dial between
 * them, then all stopped. Prints a line per round; when the deadlock hits,
 * the lines stop and the process hangs: get the stacks with
 * `gdb -p <pid> -batch -ex "thread apply all bt"`, then kill it with SIGKILL.
 * Run: `node --experimental-transform-types scripts/datachannel-deadlock.ts`.
 * `ROUNDS` (default 200); `POLICY=all` lets the members use host candidates
 * too (no hang seen in 200 rounds); `STOP=coturn-first` stops coturn before
 * the members, `STOP=together` all at once. Needs coturn (`/usr/bin/turnserver`).
 * Loopback only.
 */
import pWaitFor from 'p-wait-for'
import { startRelayProgram } from '../relay/relay.ts'
import { createMeshNode } from '../src/index.ts'
import { startCoturn } from '../test/fixtures/coturn.ts'
import { stopNodes, testNodeInit, waitForWebRTCAddress } from '../test/fixtures/options.ts'
import { tempKeyFile } from '../test/fixtures/relay-process.ts'
import type { RelaymeshServices } from '../src/index.ts'
import type { Libp2p } from '@libp2p/interface'

const rounds = Number(process.env.ROUNDS ?? 200)

for (let round = 0; round < rounds; round++) {
  const coturn = await startCoturn({ user: 'member', password: 'pw' })
  const relay = await startRelayProgram({
    port: 0,
    tcpPort: -1,
    keyFile: await tempKeyFile(),
    iceServers: [{ urls: [`turn:127.0.0.1:${coturn.port}?transport=udp`], username: 'member', credential: 'pw' }]
  })
  const nodes: Array<Libp2p<RelaymeshServices>> = []

  for (let i = 0; i < 2; i++) {
    nodes.push(await createMeshNode(testNodeInit({
      bootstrap: relay.multiaddrs,
      relays: { relayCount: 1, discovery: false },
      rtcConfiguration: { bindAddress: '127.0.0.1', ...(process.env.POLICY === 'all' ? {} : { iceTransportPolicy: 'relay' as const }) }
    })))
  }

  let connected = false

  try {
    await Promise.all(nodes.map(async node => pWaitFor(() => node.services.relays.iceServers.length === 1, { timeout: 30_000 })))
    const addr = await waitForWebRTCAddress(nodes[0])

    for (let attempt = 0; attempt < 3 && !connected; attempt++) {
      connected = await nodes[1].dial(addr, { signal: AbortSignal.timeout(30_000) }).then(() => true, () => false)
    }
  } catch (err: any) {
    process.stdout.write(`round ${round}: ${err.message}\n`)
  }

  if (process.env.STOP === 'coturn-first') {
    await coturn.stop()
    await stopNodes(nodes)
    await relay.stop()
  } else if (process.env.STOP === 'together') {
    await Promise.all([stopNodes(nodes), relay.stop(), coturn.stop()])
  } else {
    await stopNodes(nodes)
    await relay.stop()
    await coturn.stop()
  }

  process.stdout.write(`round ${round} connected=${connected} ${new Date().toISOString()}\n`)
}

// node-datachannel's threads would keep the process alive
process.exit(0)
