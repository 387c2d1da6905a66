/**
 * Bundle size of the browser entry (issue 16). esbuild bundles what a
 * browser app writes: `createMeshNode` from `'relaymesh'`, a room joined and a
 * message sent. `'relaymesh'` resolves as in a user's bundler, through a
 * `node_modules/relaymesh` link to this repository: package.json `exports`,
 * its `browser` map (`node.js` → `node.browser.js`, `rtc.js` →
 * `rtc.browser.js`) and the built `dist/` (build first). No plugin helps it
 * along: Node-only code (`node:fs`, node-datachannel, ...) fails the bundle
 * with esbuild's error, as it would fail the user's build. Beside it, in the
 * same run, a stock js-libp2p browser node with the same transports and
 * services (WebRTC, WebSockets, circuit relay v2, Noise, Yamux, identify,
 * ping, kad-dht client mode).
 *
 * Each gets minified, gzip (level 9) and brotli bytes and its largest
 * contributors: metafile `bytesInOutput` summed by package, our own files as
 * `relaymesh`. The budget is README.md's `Bundle budget: **N KB** gzipped`
 * line (1 KB = 1000 bytes). `npm run bench` (`BENCH=bundle`) writes its results
 * and then exits with code 1 when ours is over the budget.
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import type { Metafile } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const KB = 1000

/** what a browser app using relaymesh writes */
const OURS_ENTRY = `import { createMeshNode } from 'relaymesh'

const node = await createMeshNode({ bootstrap: [] })
const room = await node.services.mesh.join('lobby')
room.addEventListener('message', (evt) => { console.info(new TextDecoder().decode(evt.detail.data)) })
await room.send(new TextEncoder().encode('hello'))
`

/** a stock js-libp2p browser node with the transports and services relaymesh's has */
const STOCK_ENTRY = `import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

const node = await createLibp2p({
  addresses: { listen: ['/p2p-circuit', '/webrtc'] },
  transports: [webRTC(), webSockets(), circuitRelayTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping(), dht: kadDHT({ clientMode: true }) }
})
console.info(node.peerId.toString())
`

export type BundleSetup = 'relaymesh' | 'stock'

export interface BundleOptions {
  /** the repository whose built package is bundled */
  root?: string
  /** the README holding the budget line */
  readme?: string
  /** how many contributors to list */
  top?: number
}

export interface Contributor {
  /** npm package name, `relaymesh` for our own files */
  name: string
  /** minified bytes it puts in the output */
  bytes: number
}

export interface BundleSize {
  setup: BundleSetup
  minifiedBytes: number
  gzipBytes: number
  brotliBytes: number
  /** the largest packages by minified bytes, biggest first */
  contributors: Contributor[]
  /** esbuild's warnings, as text */
  warnings: string[]
  /** esbuild's metafile, input paths relative to `workDir` */
  metafile: Metafile
  /** the folder esbuild ran in (removed once measured) */
  workDir: string
}

export interface BundleReport {
  /** the README budget for ours, gzipped bytes */
  budgetBytes: number
  withinBudget: boolean
  ours: BundleSize
  stock: BundleSize
}

/**
 * The budget in gzipped bytes from the `Bundle budget: **N KB** gzipped` line.
 */
export async function readBudget (readme: string = join(ROOT, 'README.md')): Promise<number> {
  const match = (await readFile(readme, 'utf8')).match(/^Bundle budget: \*\*(\d+(?:\.\d+)?) KB\*\* gzipped/m)

  if (match == null) {
    throw new Error(`no "Bundle budget: **N KB** gzipped" line in ${readme}`)
  }

  return Math.round(Number(match[1]) * KB)
}

/**
 * The package an input path of the metafile belongs to: the last
 * `node_modules/<name>` in it, `relaymesh` for files of `root`.
 */
export function packageOf (input: string, workDir: string, root: string = ROOT): string {
  const path = resolve(workDir, input)
  const parts = path.split(sep)
  const at = parts.lastIndexOf('node_modules')

  if (at !== -1 && parts[at + 1] != null) {
    return parts[at + 1].startsWith('@') ? `${parts[at + 1]}/${parts[at + 2]}` : parts[at + 1]
  }

  return relative(root, path).startsWith('..') ? input : 'relaymesh'
}

async function bundle (setup: BundleSetup, entry: string, workDir: string, root: string, top: number): Promise<BundleSize> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: workDir,
    // stock resolves its packages from the repository's node_modules; ours only through node_modules/relaymesh
    nodePaths: setup === 'stock' ? [join(root, 'node_modules')] : [],
    outfile: join(workDir, `${setup}.bundle.js`),
    write: false,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    minify: true,
    metafile: true,
    logLevel: 'silent'
  })
  const code = result.outputFiles[0].contents
  const bytes = new Map<string, number>()

  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = packageOf(input, workDir, root)
      bytes.set(name, (bytes.get(name) ?? 0) + bytesInOutput)
    }
  }

  return {
    setup,
    minifiedBytes: code.byteLength,
    gzipBytes: gzipSync(code, { level: 9 }).byteLength,
    brotliBytes: brotliCompressSync(code).byteLength,
    contributors: [...bytes].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, top),
    warnings: result.warnings.map(w => `${w.location?.file ?? ''}: ${w.text}`),
    metafile: result.metafile,
    workDir
  }
}

/**
 * Bundles relaymesh's browser entry and a stock js-libp2p browser node and
 * measures both against the README budget. Throws esbuild's error when a
 * bundle fails (Node-only code reached from the browser entry).
 */
export async function measureBundle (options: BundleOptions = {}): Promise<BundleReport> {
  const root = options.root ?? ROOT
  const top = options.top ?? 15
  const budgetBytes = await readBudget(options.readme ?? join(root, 'README.md'))
  const workDir = await mkdtemp(join(tmpdir(), 'relaymesh-bundle-'))

  try {
    await mkdir(join(workDir, 'node_modules'))
    await symlink(root, join(workDir, 'node_modules', 'relaymesh'), 'dir')
    await writeFile(join(workDir, 'relaymesh.js'), OURS_ENTRY)
    await writeFile(join(workDir, 'stock.js'), STOCK_ENTRY)
    const ours = await bundle('relaymesh', join(workDir, 'relaymesh.js'), workDir, root, top)
    const stock = await bundle('stock', join(workDir, 'stock.js'), workDir, root, top)

    return { budgetBytes, withinBudget: ours.gzipBytes <= budgetBytes, ours, stock }
  } finally {
    // removes the link, not the repository it points to
    await rm(workDir, { recursive: true, force: true })
  }
}

/**
 * The report without metafiles, for the results JSON.
 */
export function bundleSummary (report: BundleReport): Record<string, unknown> {
  const size = ({ metafile, workDir, ...rest }: BundleSize): Omit<BundleSize, 'metafile' | 'workDir'> => rest

  return { ...report, ours: size(report.ours), stock: size(report.stock) }
}

const kb = (bytes: number): string => (bytes / KB).toFixed(1)

/**
 * The report as markdown: sizes, the budget and the largest contributors side by side.
 */
export function bundleTable (report: BundleReport): string {
  const { ours, stock } = report
  const rows = Math.max(ours.contributors.length, stock.contributors.length)
  const cell = (c?: Contributor): string => c == null ? '' : `${c.name} ${kb(c.bytes)}`
  const over = report.withinBudget ? 'within it' : `**over it by ${kb(ours.gzipBytes - report.budgetBytes)} KB**`

  return [
    '## Bundle size of the browser entry (esbuild, browser, ESM, minified; 1 KB = 1000 bytes)',
    '',
    '| bundle | minified KB | gzip KB | brotli KB |',
    '| --- | --- | --- | --- |',
    `| relaymesh: \`createMeshNode\`, a room, a message | ${kb(ours.minifiedBytes)} | ${kb(ours.gzipBytes)} | ${kb(ours.brotliBytes)} |`,
    `| stock js-libp2p: WebRTC, WebSockets, circuit relay, Noise, Yamux, identify, ping, kad-dht client | ${kb(stock.minifiedBytes)} | ${kb(stock.gzipBytes)} | ${kb(stock.brotliBytes)} |`,
    '',
    `Budget (README.md): ${kb(report.budgetBytes)} KB gzipped; relaymesh is ${over}. relaymesh / stock gzipped: ${(ours.gzipBytes / stock.gzipBytes).toFixed(2)}.`,
    '',
    '| # | relaymesh: package, minified KB | stock: package, minified KB |',
    '| --- | --- | --- |',
    ...Array.from({ length: rows }, (_, i) => `| ${i + 1} | ${cell(ours.contributors[i])} | ${cell(stock.contributors[i])} |`)
  ].join('\n')
}
