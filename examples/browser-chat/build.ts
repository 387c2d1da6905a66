/**
 * Bundles a page of relaymesh for browsers with esbuild: `node.ts` resolves
 * to `node.browser.ts`, as package.json's "browser" field does for `dist/`.
 * `node examples/browser-chat/build.ts [outDir]` builds this example into
 * `examples/browser-chat/dist/` (or `outDir`).
 */
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Plugin } from 'esbuild'

const HERE = dirname(fileURLToPath(import.meta.url))

const browserNode: Plugin = {
  name: 'relaymesh-browser-node',
  setup (b) {
    b.onResolve({ filter: /\/node\.ts$/ }, args => {
      const path = join(args.resolveDir, args.path)
      return path.includes(join('src', 'node.ts')) ? { path: path.replace(/node\.ts$/, 'node.browser.ts') } : undefined
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
    plugins: [browserNode],
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
