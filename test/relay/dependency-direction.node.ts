import { spawnSync } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** every `.ts` file under `dir`, skipping build output */
async function sources (dir: string): Promise<string[]> {
  const files: string[] = []

  for (const entry of await readdir(join(root, dir), { withFileTypes: true, recursive: true })) {
    const path = relative(root, join(entry.parentPath, entry.name))

    if (entry.isFile() && path.endsWith('.ts') && !path.endsWith('.d.ts') && !path.split('/').includes('dist')) {
      files.push(path)
    }
  }

  return files
}

/** the module specifiers a file imports or re-exports */
async function specifiersOf (file: string): Promise<string[]> {
  const text = await readFile(join(root, file), 'utf8')

  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)]
    .map(match => match[1] ?? match[2])
}

/** the relative module specifiers a file imports or re-exports, resolved from the repository's root */
async function localImports (file: string): Promise<string[]> {
  return (await specifiersOf(file))
    .filter(specifier => specifier.startsWith('.'))
    .map(specifier => relative(root, resolve(root, dirname(file), specifier)))
}

/**
 * The source files behind the `exports` of the library's package.json
 * (`./dist/src/x/index.js` is built from `src/x/index.ts`) and of the relay
 * program's, `relay/package.json` (`./dist/x/index.js` is laid out from
 * `dist/relay/x/index.js`, built from `relay/x/index.ts`)
 */
async function publicEntryPoints (): Promise<string[]> {
  const library = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
  const relay = JSON.parse(await readFile(join(root, 'relay', 'package.json'), 'utf8'))

  return [
    ...Object.values<{ import: string }>(library.exports)
      .map(target => target.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')),
    ...Object.values<{ import: string }>(relay.exports)
      .map(target => target.import.replace(/^\.\/dist\//, 'relay/').replace(/\.js$/, '.ts'))
  ]
}

/** the packages (not `node:` modules) that a file imports, by package name */
async function packageImports (file: string): Promise<string[]> {
  return (await specifiersOf(file))
    .filter(specifier => !specifier.startsWith('.') && !specifier.startsWith('node:'))
    .map(specifier => /^(@[^/]+\/[^/]+|[^/]+)/.exec(specifier)?.[1] ?? specifier)
}

describe('dependency direction', () => {
  it('every export of package.json is built from a source file', async () => {
    const entries = await publicEntryPoints()

    expect(entries).to.include('relay/server/index.ts')
    expect(entries).to.include('src/circuit/index.ts')

    for (const entry of entries) {
      await readFile(join(root, entry))
    }
  })

  it('the relay program uses the library only through its public entry points', async () => {
    const entries = await publicEntryPoints()
    const wrong: string[] = []

    for (const file of await sources('relay')) {
      for (const target of await localImports(file)) {
        if (target.startsWith('src/') && !entries.includes(target)) {
          wrong.push(`${file} imports ${target}`)
        }
      }
    }

    expect(wrong).to.deep.equal([])
  })

  it('the relaymesh-relay package depends on relaymesh at the library\'s version and on every package the relay program imports', async () => {
    const library = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
    const relay = JSON.parse(await readFile(join(root, 'relay', 'package.json'), 'utf8'))
    expect(relay.version).to.equal(library.version)
    expect(relay.dependencies.relaymesh).to.equal(library.version)

    const missing = new Set<string>()

    for (const file of await sources('relay')) {
      for (const name of await packageImports(file)) {
        if (relay.dependencies[name] == null) {
          missing.add(`${name} (${file})`)
        }
      }
    }

    expect([...missing]).to.deep.equal([])
  })

  it('the library never imports the relay program, the examples or the tests', async () => {
    const wrong: string[] = []

    for (const file of await sources('src')) {
      for (const target of await localImports(file)) {
        if (!target.startsWith('src/')) {
          wrong.push(`${file} imports ${target}`)
        }
      }
    }

    expect(wrong).to.deep.equal([])
  })

  it('the fixtures .aegir.js imports load in its own process, which strips types only', async () => {
    const config = await readFile(join(root, '.aegir.js'), 'utf8')
    const fixtures = [...config.matchAll(/import\('(\.\/test\/fixtures\/[^']+)'\)/g)].map(match => match[1])
    expect(fixtures).to.not.be.empty()

    // no --experimental-transform-types: as aegir runs its config's hooks
    const code = fixtures.map(fixture => `await import(${JSON.stringify(fixture)})`).join(';')
    // (mocha's own NODE_OPTIONS turn type transforms on: not inherited here)
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } })
    expect(run.status, run.stderr).to.equal(0)
  })
})
