/**
 * What npm users install is what the tests run: the library and the relay
 * program are packed (`npm pack`), installed into a fresh folder outside the
 * repository (`npm install <tarballs>`, a node_modules of its own), and used
 * from there only: the relay program through `npx relaymesh-relay`, a Node
 * app and a web page bundled by esbuild from the installed `relaymesh`, and
 * 500 `/p2p-circuit/webrtc` dials between two processes of the install,
 * which must all connect without the 6 s hang of stock `@libp2p/webrtc`
 * (docs/webrtc-fixes.md, faults 1 and 2).
 */
import '../fixtures/datachannel-cleanup.ts'
import { spawn } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import { build } from 'esbuild'
import { buildChat } from '../../examples/browser-chat/build.ts'
import { layOutRelayPackage } from '../../scripts/relay-package.ts'
import { launchChromium, serveDirectory } from '../fixtures/browser-member/serve.ts'
import { childEnv, track } from '../fixtures/children.ts'
import { createMember, inbox, until } from '../mesh/fixtures.ts'
import type { ServedPage } from '../fixtures/browser-member/serve.ts'
import type { MeshNode } from '../mesh/fixtures.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import type { Browser } from 'playwright-core'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SCRIPTS = join(ROOT, 'test', 'fixtures', 'installed')
const DIALS = 500
const PARALLEL_DIALS = 4
/** a dial that took this long hung (libp2p gives up on an address after 6 s) */
const HUNG_MS = 5_000

/**
 * The environment for npm and the installed programs: the test's, with this
 * Node (24) first on the PATH, so that `npm` and the packages' `#!` lines
 * run on it, as on a user's machine with Node 22 or later.
 */
function installEnv (): NodeJS.ProcessEnv {
  const env = childEnv()
  return { ...env, PATH: `${dirname(process.execPath)}:${env.PATH ?? ''}` }
}

/** signals the process group of a child started `detached` (never our own group) */
function killGroup (pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid == null || pid <= 0) {
    return
  }

  try {
    process.kill(-pid, signal)
  } catch {
    // gone already
  }
}

/** runs `command` in `cwd` to completion; rejects with its output unless it exits with 0 */
async function run (command: string, args: string[], cwd: string, timeout: number): Promise<string> {
  const proc = spawn(command, args, { cwd, env: installEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  track(proc, true)
  let output = ''
  proc.stdout.on('data', (b: Buffer) => { output += b.toString() })
  proc.stderr.on('data', (b: Buffer) => { output += b.toString() })
  const timer = setTimeout(() => { killGroup(proc.pid, 'SIGKILL') }, timeout)

  const code = await new Promise<number | null>(resolve => {
    proc.on('exit', resolve)
    proc.on('error', (err) => {
      output += `${err.message}\n`
      resolve(null)
    })
  })
  clearTimeout(timer)

  if (code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`)
  }

  return output
}

/** a program of the install, running, that prints JSON lines */
interface InstalledProcess {
  proc: ChildProcessWithoutNullStreams
  /** the next printed line with this `event`, waiting at most `timeout` */
  next(event: string, timeout?: number): Promise<any>
  /** what it printed on stderr */
  stderr(): string
  /** SIGTERM to its process group, SIGKILL after 10 s; resolves once it exited */
  stop(): Promise<void>
}

function startInstalled (command: string, args: string[], cwd: string): InstalledProcess {
  const proc = spawn(command, args, { cwd, env: installEnv(), stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  track(proc, true)
  let stderr = ''
  proc.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
  const exited = new Promise<void>(resolve => {
    proc.on('exit', () => { resolve() })
    proc.on('error', (err) => {
      stderr += `${err.message}\n`
      resolve()
    })
  })
  const lines: any[] = []
  const waiting = new Set<() => void>()
  createInterface({ input: proc.stdout }).on('line', line => {
    if (line.startsWith('{')) {
      lines.push(JSON.parse(line))
      waiting.forEach(wake => { wake() })
    }
  })

  return {
    proc,
    stderr: () => stderr,
    next: async (event, timeout = 60_000) => new Promise((resolve, reject) => {
      const check = (): void => {
        const index = lines.findIndex(line => line.event === event)

        if (index !== -1) {
          clearTimeout(timer)
          waiting.delete(check)
          resolve(lines.splice(index, 1)[0])
        }
      }
      const timer = setTimeout(() => {
        waiting.delete(check)
        reject(new Error(`${command} ${args.join(' ')} printed no ${event} line in ${timeout / 1000} s; stderr: ${stderr}`))
      }, timeout)
      waiting.add(check)
      void exited.then(() => {
        if (waiting.delete(check)) {
          clearTimeout(timer)
          reject(new Error(`${command} ${args.join(' ')} exited (${proc.exitCode ?? proc.signalCode}) before a ${event} line; stderr: ${stderr}`))
        }
      })
      check()
    }),
    stop: async () => {
      if (proc.pid != null && proc.exitCode == null && proc.signalCode == null) {
        killGroup(proc.pid, 'SIGTERM')
        const timer = setTimeout(() => { killGroup(proc.pid, 'SIGKILL') }, 10_000)
        await exited
        clearTimeout(timer)
      }
    }
  }
}

function stats (values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${sorted[sorted.length - 1]} ms, ${sorted.filter(ms => ms >= 900).length} of ${sorted.length} ≥ 900 ms`
}

describe('the packed packages, installed in a fresh folder', function () {
  // the before hook's own limits: 2 packs of 120 s, an install of 480 s
  this.timeout(900_000)
  let tmp: string
  let app: string
  let relay: InstalledProcess
  let relayReady: { peerId: string, multiaddrs: string[], page: string }
  let wsAddr: string
  const started: InstalledProcess[] = []
  const nodes: MeshNode[] = []
  let browser: Browser | undefined
  let served: ServedPage | undefined

  before(async function () {
    tmp = await mkdtemp(join(tmpdir(), 'relaymesh-install-'))
    app = join(tmp, 'app')
    const pack = join(tmp, 'pack')
    await mkdir(app)
    await mkdir(pack)

    // the relay package ships the built chat page
    await buildChat()
    await layOutRelayPackage()
    await run('npm', ['pack', '--pack-destination', pack], ROOT, 120_000)
    await run('npm', ['pack', './relay', '--pack-destination', pack], ROOT, 120_000)

    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
    await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'relaymesh-install-test', private: true, type: 'module' }, null, 2)}\n`)
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(pack, `relaymesh-${version}.tgz`), join(pack, `relaymesh-relay-${version}.tgz`)], app, 480_000)

    for (const script of ['member.mjs', 'webrtc-dials.mjs', 'page.mjs']) {
      await copyFile(join(SCRIPTS, script), join(app, script))
    }

    // members and dialers all reserve from 127.0.0.1: more than the default 8 per IP
    relay = startInstalled('npx', ['--no-install', 'relaymesh-relay', '--host', '127.0.0.1', '--port', '0', '--tcp-port', 'off', '--http-port', '0', '--max-reservations-per-ip', '64', '--key-file', join(tmp, 'relay.key')], app)
    relayReady = await relay.next('ready')
    wsAddr = relayReady.multiaddrs.find(ma => ma.includes('/ws/'))!
  })

  after(async () => {
    try {
      await browser?.close()
      await served?.stop()
      await Promise.allSettled(nodes.map(async node => node.stop()))
      await Promise.allSettled(started.map(async proc => proc.stop()))
      await relay?.stop()
    } finally {
      if (tmp != null) {
        await rm(tmp, { recursive: true, force: true })
      }
    }
  })

  it('is outside the repository, with every documented entry point, and the relay program\'s dependencies only in its package', async () => {
    expect(relative(ROOT, app).startsWith('..')).to.be.true()

    const library = JSON.parse(await readFile(join(app, 'node_modules', 'relaymesh', 'package.json'), 'utf8'))
    const program = JSON.parse(await readFile(join(app, 'node_modules', 'relaymesh-relay', 'package.json'), 'utf8'))
    for (const name of ['prom-client', '@libp2p/prometheus-metrics', 'ws', 'proxy-protocol-js']) {
      expect(library.dependencies, name).to.not.have.property(name)
      expect(program.dependencies, name).to.have.property(name)
    }

    // each entry point imports in Node from the install, none from the repository
    const entries = [...Object.keys(library.exports).map(path => path.replace(/^\./, 'relaymesh')), 'relaymesh-relay/server']
    const code = `for (const entry of ${JSON.stringify(entries)}) { const url = import.meta.resolve(entry); if (!url.startsWith(${JSON.stringify(`file://${app}/node_modules/`)})) throw new Error(entry + ' resolves to ' + url); await import(entry) }; process.exit(0)`
    await run(process.execPath, ['--input-type=module', '-e', code], app, 60_000)
  })

  it('npx relaymesh-chat --help runs the terminal chat of the install', async () => {
    expect(await run('npx', ['--no-install', 'relaymesh-chat', '--help'], app, 60_000)).to.include('--relay')
  })

  it('npx relaymesh-relay --http-port 0 serves the chat page', async () => {
    const page = await fetch(relayReady.page)
    expect(page.status).to.equal(200)
    const html = await page.text()
    expect(html).to.include('main.js')

    const script = await fetch(new URL('main.js', relayReady.page))
    expect(script.status).to.equal(200)
    expect((await script.text()).length).to.be.above(100_000)
  })

  it('a Node app and a page bundled by esbuild, both from the install, share a room with a member from the repository', async () => {
    const room = `installed-${Date.now()}`
    const repository = await createMember(wsAddr)
    nodes.push(repository)
    const repositoryRoom = await repository.services.mesh.join(room)
    const received = inbox(repositoryRoom)

    const member = startInstalled(process.execPath, ['member.mjs', wsAddr, room], app)
    started.push(member)
    await member.next('ready')

    // the page, bundled as an app bundles it: from the installed package
    const www = join(tmp, 'www')
    await mkdir(www)
    await build({ entryPoints: [join(app, 'page.mjs')], absWorkingDir: app, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outfile: join(www, 'page.js'), logLevel: 'error' })
    await writeFile(join(www, 'index.html'), '<!doctype html><meta charset="utf-8"><title>installed relaymesh</title><script type="module" src="page.js"></script>\n')
    served = await serveDirectory(www)
    browser = await launchChromium()
    const page = await browser.newPage()
    await page.goto(`${served.url}?relay=${encodeURIComponent(wsAddr)}&room=${encodeURIComponent(room)}`)
    await page.waitForFunction(() => (globalThis as any).member != null, undefined, { timeout: 60_000 })

    await until(() => repositoryRoom.members.length === 2, 'the repository member sees the installed Node member and the page', 60_000, () => repositoryRoom.members)

    await repositoryRoom.send(new TextEncoder().encode('from the repository'))
    member.proc.stdin.write('from the installed Node app\n')
    await page.evaluate(async () => (globalThis as any).member.send('from the installed page'))

    const texts = (): string[] => received.map(m => new TextDecoder().decode(m.data))
    await until(() => texts().includes('from the installed Node app') && texts().includes('from the installed page'), 'the repository member got both', 30_000,
      () => ({ texts: texts(), members: repositoryRoom.members.map(m => `${m.peerId} ${m.state} ${m.route}`), installed: member.stderr() }))

    const heard = [(await member.next('message', 30_000)).text, (await member.next('message', 30_000)).text]
    expect(heard.sort()).to.deep.equal(['from the installed page', 'from the repository'])

    await page.waitForFunction(() => (globalThis as any).member.received.length >= 2, undefined, { timeout: 30_000 })
    const onPage = await page.evaluate(() => (globalThis as any).member.received.map((m: { text: string }) => m.text))
    expect(onPage.sort()).to.deep.equal(['from the installed Node app', 'from the repository'])

    // their reservations end with them, before the dials' members reserve
    await page.close()
    await member.stop()
    await repository.stop()
  })

  it(`${DIALS} /p2p-circuit/webrtc dials between two processes of the install all connect, none after a hang`, async () => {
    const listener = startInstalled(process.execPath, ['webrtc-dials.mjs', 'listen', wsAddr], app)
    started.push(listener)
    const { addr } = await listener.next('ready')

    const dialer = startInstalled(process.execPath, ['webrtc-dials.mjs', 'dial', wsAddr, addr, String(DIALS), String(PARALLEL_DIALS)], app)
    started.push(dialer)
    const { dials, failures } = await dialer.next('done', 480_000) as { dials: number[], failures: string[] }
    process.stdout.write(`      ${dials.length} of ${DIALS} dials connected: ${stats(dials)}\n`)

    expect(failures, failures.join('\n')).to.deep.equal([])
    expect(dials).to.have.lengthOf(DIALS)
    expect(dials.filter(ms => ms >= HUNG_MS), `dials that took ${HUNG_MS} ms or more`).to.deep.equal([])
  })
})
