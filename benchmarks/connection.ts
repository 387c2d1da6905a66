/**
 * Noise and yamux with and without relaymesh's fixes (`meshNoise`,
 * `meshYamux`; docs/webrtc-fixes.md, faults 5 and 6): two libp2p nodes in
 * this process over TCP on loopback, one stream, `messages` messages of 1 KiB
 * written as fast as the stream drains (yielding every 50), read to the end.
 * Timed from the first write to the last byte read, with this process's CPU
 * time; stock `noise()` + `yamux()` and relaymesh's run alternately, `runs`
 * times each. What relay connections (and relayed ones, twice) carry.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { meshNoise, meshYamux } from '../src/connection/index.ts'
import type { ConnectionEncrypter, StreamMuxerFactory } from '@libp2p/interface'

const PROTOCOL = '/relaymesh/bench/sink/1.0.0'
const MESSAGE_SIZE = 1024

export interface ConnectionRun {
  setup: 'stock' | 'relaymesh'
  ms: number
  cpuMs: number
  mbPerSecond: number
}

async function transfer (setup: ConnectionRun['setup'], messages: number): Promise<ConnectionRun> {
  const node = async (): Promise<Awaited<ReturnType<typeof createLibp2p>>> => createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [(setup === 'stock' ? noise() : meshNoise()) as (components: any) => ConnectionEncrypter],
    streamMuxers: [(setup === 'stock' ? yamux() : meshYamux()) as () => StreamMuxerFactory]
  })
  const sender = await node()
  const receiver = await node()

  try {
    let received = 0
    const done = Promise.withResolvers<void>()
    await receiver.handle(PROTOCOL, async (stream) => {
      for await (const chunk of stream) {
        received += chunk.byteLength

        if (received === messages * MESSAGE_SIZE) {
          done.resolve()
        }
      }
    })
    const stream = await (await sender.dial(multiaddr(receiver.getMultiaddrs()[0]))).newStream(PROTOCOL)
    const message = new Uint8Array(MESSAGE_SIZE).fill(1)
    const cpu = process.cpuUsage()
    const started = performance.now()

    for (let i = 0; i < messages; i++) {
      if (!stream.send(message)) {
        await stream.onDrain()
      }

      if (i % 50 === 49) {
        await new Promise(resolve => setImmediate(resolve))
      }
    }

    await done.promise
    const ms = performance.now() - started
    const used = process.cpuUsage(cpu)
    await stream.close()

    return { setup, ms: Math.round(ms), cpuMs: Math.round((used.user + used.system) / 1000), mbPerSecond: Number((messages * MESSAGE_SIZE / 1e6 / (ms / 1000)).toFixed(1)) }
  } finally {
    await Promise.all([sender.stop(), receiver.stop()])
  }
}

/**
 * Runs stock and relaymesh alternately, `runs` times each.
 */
export async function measureConnection (messages = 50_000, runs = 3): Promise<ConnectionRun[]> {
  const results: ConnectionRun[] = []

  for (let run = 0; run < runs; run++) {
    results.push(await transfer('stock', messages))
    results.push(await transfer('relaymesh', messages))
  }

  return results
}

/** the markdown table of {@link measureConnection}'s runs */
export function connectionTable (runs: ConnectionRun[], messages: number): string {
  const of = (setup: string, key: keyof ConnectionRun): string => runs.filter(r => r.setup === setup).map(r => r[key]).join(' / ')

  return [
    `## Noise + yamux over TCP: ${messages} messages of 1 KiB on one stream, one process`,
    '',
    '| setup | ms | CPU ms | MB/s |',
    '| --- | --- | --- | --- |',
    ...['stock', 'relaymesh'].map(setup => `| ${setup === 'stock' ? 'stock `noise()` + `yamux()`' : 'relaymesh `meshNoise()` + `meshYamux()`'} | ${of(setup, 'ms')} | ${of(setup, 'cpuMs')} | ${of(setup, 'mbPerSecond')} |`)
  ].join('\n')
}
