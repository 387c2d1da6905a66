/**
 * Bundles a page of relaymesh for browsers with esbuild: each source file that
 * package.json's "browser" field swaps for `dist/` (`node.ts`,
 * `webrtc/rtc.ts`) resolves to its browser twin here too.
 * `node examples/browser-chat/build.ts [outDir]` builds this example into
 * `examples/browser-chat/dist/` (or `outDir`).
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Plugin } from 'esbuild'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..', '..')

/**
 * The source files of package.json's "browser" map (`./dist/src/x.js` is
 * built from `src/x.ts`), as absolute paths, with their browser twins
 */
async function browserSwaps (): Promise<Map<string, string>> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
  const source = (path: string): string => join(ROOT, path.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))

  return new Map(Object.entries<string | false>(pkg.browser ?? {})
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[0].startsWith('./dist/src/'))
    .map(([from, to]) => [source(from), source(to)]))
}

const browserFiles: Plugin = {
  name: 'relaymesh-browser-files',
  setup (b) {
    const swaps = browserSwaps()

    b.onResolve({ filter: /\.ts$/ }, async args => {
      const swap = (await swaps).get(resolve(args.resolveDir, args.path))
      return swap != null ? { path: swap } : undefined
    })
  }
}

/**
 * Bundles `entry` into `outFile` as an ES module for browsers.
 */
export async function bundlePage (entry: string, outFile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: outFile,
    plugins: [browserFiles],
    define: { 'process.env.NODE_DEBUG': 'false', global: 'globalThis' },
    logLevel: 'warning'
  })
}

/**
 * Builds the chat page (`index.html` and `main.js`) into `outDir`.
 */
export async function buildChat (outDir: string = join(HERE, 'dist')): Promise<string> {
  await mkdir(outDir, { recursive: true })
  await bundlePage(join(HERE, 'main.ts'), join(outDir, 'main.js'))
  await copyFile(join(HERE, 'index.html'), join(outDir, 'index.html'))
  return outDir
}

if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildChat(process.argv[2])
  process.stdout.write(`built the chat page into ${out}\n`)
}
