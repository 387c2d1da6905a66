/**
 * `npm run bench`: runs each benchmark against relaymesh and a stock js-libp2p
 * setup in the same run, writes JSON and a markdown table to
 * benchmarks/results/ and prints the table.
 *
 * `RELAY_MEMORY_BYTES` sets how much one circuit carries (default 1 GiB).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MiB, measureRelayMemory } from './relay-memory.ts'

const bytes = Number(process.env.RELAY_MEMORY_BYTES ?? 1024 * MiB)
const results = {
  date: new Date().toISOString(),
  node: process.version,
  relayMemory: [
    await measureRelayMemory('relaymesh', bytes),
    await measureRelayMemory('stock', bytes)
  ]
}

const [ours, stock] = results.relayMemory
const table = [
  `## Relay memory while one circuit carries ${Math.round(bytes / MiB)} MiB`,
  '',
  '| relay | MB/s | RSS before (MiB) | RSS peak (MiB) | RSS after (MiB) | growth (MiB) |',
  '| --- | --- | --- | --- | --- | --- |',
  ...results.relayMemory.map(r => `| ${r.relay} | ${r.mbPerSecond} | ${r.rssBeforeMiB} | ${r.rssPeakMiB} | ${r.rssAfterMiB} | ${Math.round(r.rssPeakMiB - r.rssBeforeMiB)} |`),
  '',
  `Peak growth, relaymesh / stock: ${((ours.rssPeakMiB - ours.rssBeforeMiB) / Math.max(1, stock.rssPeakMiB - stock.rssBeforeMiB)).toFixed(3)}`
].join('\n')

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results')
await mkdir(dir, { recursive: true })
await writeFile(join(dir, 'latest.json'), JSON.stringify(results, null, 2))
await writeFile(join(dir, 'latest.md'), `${table}\n`)
process.stdout.write(`${JSON.stringify(results)}\n\n${table}\n`)
process.exit(0)
