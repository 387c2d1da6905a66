/**
 * Lays out the `relaymesh-relay` package in `relay/` from the build, so that
 * `npm pack ./relay` packs the relay program (run `npm run build` and
 * `npm run build:chat` first; `npm run pack:all` does all of it):
 *
 * - `relay/dist/`: the compiled relay program (`dist/relay/`), with its
 *   imports of the library (`../src/<module>/index.js`, which the dependency
 *   direction test keeps to the package's public entry points) rewritten to
 *   the package's name (`relaymesh/<module>`), so that the installed relay
 *   uses the installed `relaymesh` and carries no copy of it;
 * - `relay/page/`: the built browser chat page, which the relay serves with
 *   `--http-port` (`findChatPage()`);
 * - `relay/deploy/`: the systemd unit and the Dockerfile.
 *
 * `node scripts/relay-package.ts` (Node 24: `npx node`); exits non-zero and
 * says what is missing when the build is not there.
 */
import { existsSync } from 'node:fs'
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BUILT = join(ROOT, 'dist', 'relay')
const PACKAGE = join(ROOT, 'relay')
const LIBRARY = join(ROOT, 'dist', 'src')

/** a module specifier in a `from '…'`, `import '…'` or `import('…')` */
const SPECIFIER = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])(\.[^'"]+)\2/g

/**
 * The file's text with each relative import of the library
 * (`dist/src/<module>/index.js`) replaced by `relaymesh/<module>` (and
 * `dist/src/index.js` by `relaymesh`); throws on a relative import that
 * leaves the relay program for anything else.
 */
export function rewriteLibraryImports (text: string, file: string): string {
  return text.replace(SPECIFIER, (whole, keyword: string, quote: string, specifier: string) => {
    const target = resolve(dirname(file), specifier)

    if (!relative(BUILT, target).startsWith('..')) {
      return whole
    }

    const inLibrary = relative(LIBRARY, target)
    // `index.js` in JavaScript, `index.ts` in declarations
    const entry = /^(?:([a-z-]+)\/)?index\.(?:js|ts)$/.exec(inLibrary)
    const module = entry == null ? undefined : entry[1] ?? ''

    if (module == null || inLibrary.startsWith('..')) {
      throw new Error(`${relative(ROOT, file)} imports ${specifier}, which is neither the relay program nor a public entry point of the library`)
    }

    return `${keyword}${quote}relaymesh${module === '' ? '' : `/${module}`}${quote}`
  })
}

/**
 * Throws unless every `relaymesh/<module>` the laid-out files import is in
 * the library's `exports`, and no file reaches outside the package by a
 * relative path (`from '../…'`, `import('../…')`, `/// <reference path>`).
 */
async function checkLaidOut (dir: string): Promise<void> {
  const { exports } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
  const problems: string[] = []

  for (const file of await files(dir)) {
    const text = await readFile(file, 'utf8')

    for (const [, , , specifier] of text.matchAll(/(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|<reference\s+path=)(['"])([^'"]+)\2/g)) {
      const library = /^relaymesh(\/[a-z-]+)?$/.exec(specifier)

      if (library != null && exports[`.${library[1] ?? ''}`] == null) {
        problems.push(`${relative(PACKAGE, file)} imports ${specifier}, which the library does not export`)
      } else if (specifier.startsWith('.') && relative(dir, resolve(dirname(file), specifier)).startsWith('..')) {
        problems.push(`${relative(PACKAGE, file)} imports ${specifier}, outside the package`)
      }
    }
  }

  if (problems.length > 0) {
    throw new Error(problems.join('\n'))
  }
}

async function files (dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true, recursive: true }))
    .filter(entry => entry.isFile())
    .map(entry => join(entry.parentPath, entry.name))
}

/**
 * Writes `relay/dist`, `relay/page` and `relay/deploy`; returns the folder
 * of the package.
 */
export async function layOutRelayPackage (): Promise<string> {
  const page = join(ROOT, 'examples', 'browser-chat', 'dist')

  for (const [path, fix] of [[join(BUILT, 'bin.js'), 'npm run build'], [join(page, 'index.html'), 'npm run build:chat']]) {
    if (!existsSync(path)) {
      throw new Error(`${relative(ROOT, path)} is missing: run \`${fix}\` first`)
    }
  }

  for (const dir of ['dist', 'page', 'deploy']) {
    await rm(join(PACKAGE, dir), { recursive: true, force: true })
  }

  for (const file of await files(BUILT)) {
    // source maps would point at sources the package does not ship
    if (file.endsWith('.map') || file.endsWith('.tsbuildinfo')) {
      continue
    }

    const out = join(PACKAGE, 'dist', relative(BUILT, file))
    await mkdir(dirname(out), { recursive: true })
    const text = await readFile(file, 'utf8')
    await writeFile(out, file.endsWith('.js') || file.endsWith('.d.ts') ? rewriteLibraryImports(text.replace(/\n\/\/# sourceMappingURL=.*$/, ''), file) : text, { mode: file === join(BUILT, 'bin.js') ? 0o755 : 0o644 })
  }

  await checkLaidOut(join(PACKAGE, 'dist'))

  await cp(page, join(PACKAGE, 'page'), { recursive: true })
  await cp(join(ROOT, 'deploy'), join(PACKAGE, 'deploy'), { recursive: true })
  return PACKAGE
}

if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const dir = await layOutRelayPackage()
    process.stdout.write(`laid out the relaymesh-relay package in ${relative(process.cwd(), dir) || '.'}\n`)
  } catch (err: any) {
    process.stderr.write(`relay-package: ${err.message}\n`)
    process.exitCode = 1
  }
}
