/**
 * Relay selection benchmarks: time to the first reservation from a cold
 * start, and time to hold a reservation elsewhere after the held relay is
 * SIGKILLed; relaymesh's `relays` service against a stock js-libp2p node
 * (circuitRelayTransport listening on '/p2p-circuit', default discovery,
 * connected to the same relays).
 */
import { cleanup } from 'node-datachannel'
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../src/index.ts'
import { testNodeInit } from '../test/fixtures/options.ts'
import { startRelayProcess } from '../test/fixtures/relay-process.ts'
import { createStockNode } from '../test/fixtures/stock-node.ts'
import type { RelayProcess } from '../test/fixtures/relay-process.ts'
import type { Libp2p } from '@libp2p/interface'

export interface RelayTimings {
  setup: 'relaymesh' | 'stock'
  firstReservationMs: number
  failoverMs: number | null
}

function relayOf (node: Libp2p): string | undefined {
  const ma = node.getMultiaddrs().map(String).find(a => /\/p2p-circuit\/p2p\//.test(a))
  return ma?.split('/p2p-circuit')[0].split('/p2p/').pop()
}

async function once (setup: 'relaymesh' | 'stock'): Promise<RelayTimings> {
  const first = await startRelayProcess()
  const others = await Promise.all([0, 1].map(async () => startRelayProcess(['--bootstrap', first.wsAddr])))
  const all: RelayProcess[] = [first, ...others]
  let node: Libp2p | undefined

  try {
    const start = performance.now()

    if (setup === 'relaymesh') {
      node = await createMeshNode(testNodeInit({ bootstrap: [first.wsAddr], relays: { relayCount: 1 } }))
    } else {
      node = await createStockNode(['/p2p-circuit'])
      const stock = node
      // stock discovery finds relays among connected peers: connect it to all three
      await Promise.all(all.map(async r => stock.dial((await import('@multiformats/multiaddr')).multiaddr(r.wsAddr)).catch(() => {})))
    }

    const reserved = node
    await pWaitFor(() => relayOf(reserved) != null, { timeout: 60_000, interval: 5 })
    const firstReservationMs = performance.now() - start

    // let both settle (relaymesh measures the others in the background)
    await new Promise(resolve => setTimeout(resolve, 3000))
    const held = relayOf(reserved)
    const victim = all.find(r => r.peerId === held)!
    const killedAt = performance.now()
    await victim.stop('SIGKILL')
    let failoverMs: number | null = null

    try {
      await pWaitFor(() => { const now = relayOf(reserved); return now != null && now !== held }, { timeout: 30_000, interval: 5 })
      failoverMs = performance.now() - killedAt
    } catch {
      // no replacement within 30 s
      if (setup === 'relaymesh') {
        const relays = (reserved as any).services.relays
        process.stderr.write(`no failover: held ${held}, candidates ${JSON.stringify(relays.candidates.map((c: any) => [c.peerId.toString(), c.latency, c.failures, c.lastError]))}\n`)
      }
    }

    return { setup, firstReservationMs: round(firstReservationMs), failoverMs: failoverMs == null ? null : round(failoverMs) }
  } finally {
    await node?.stop()
    await Promise.all(all.map(async r => r.stop('SIGKILL')))
  }
}

function round (n: number): number {
  return Math.round(n * 10) / 10
}

/**
 * Runs `runs` rounds of each setup, alternating.
 */
export async function measureRelays (runs: number): Promise<RelayTimings[]> {
  const results: RelayTimings[] = []

  for (let i = 0; i < runs; i++) {
    results.push(await once('relaymesh'))
    results.push(await once('stock'))
  }

  cleanup()
  return results
}
