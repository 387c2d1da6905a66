import '../fixtures/datachannel-cleanup.ts'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { buildChat } from '../../examples/browser-chat/build.ts'
import { launchChromium, openChat, sendChat, waitForChatMessage } from '../fixtures/browser-member/serve.ts'
import { TS_NODE_ARGS, childEnv, track } from '../fixtures/children.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { ChildProcess } from 'node:child_process'
import type { Browser } from 'playwright-core'

const CHAT_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'cli-chat', 'bin.ts')

interface Cli {
  process: ChildProcess
  lines: string[]
  stderr(): string
}

function startCli (args: string[], env: Record<string, string> = {}): Cli {
  const proc = spawn(process.execPath, [...TS_NODE_ARGS, CHAT_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...childEnv(), ...env } })
  track(proc)
  const lines: string[] = []
  let stderr = ''
  createInterface({ input: proc.stdout }).on('line', line => { lines.push(line) })
  proc.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  return { process: proc, lines, stderr: () => stderr }
}

/** whether `cli` printed a line starting with `start` */
function printed (cli: Cli, start: string): boolean {
  return cli.lines.some(line => line.startsWith(start))
}

describe('examples/cli-chat', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let browser: Browser
  let cli: Cli | undefined
  let dir: string

  before(async () => {
    // the relay serves the browser chat example
    dir = await mkdtemp(join(tmpdir(), 'relaymesh-chat-'))
    await buildChat(dir)
    relay = await startRelayProcess(['--max-reservations-per-ip', '64', '--http-port', `${await freePort()}`, '--http-root', dir])
    browser = await launchChromium()
  })

  after(async () => {
    cli?.process.kill('SIGKILL')
    await browser?.close()
    await relay?.stop('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('a terminal member and the browser chat page chat with each other', async () => {
    const room = 'cli-and-page'
    cli = startCli(['--relay', relay.wsAddr, '--room', room, '--ice-bind', '127.0.0.1'])
    const running = cli
    await pWaitFor(() => running.lines.some(line => line.startsWith('* you are')), { timeout: 60_000, interval: 100 })

    const page = await browser.newPage()
    const pageId = await openChat(page, `${relay.page}?room=${room}`)
    await pWaitFor(() => running.lines.some(line => line === `* ${pageId.slice(-8)} joined (direct)` || line === `* ${pageId.slice(-8)} joined (relayed)`), { timeout: 60_000, interval: 100 })

    await sendChat(page, 'hello from the page')
    await pWaitFor(() => running.lines.includes(`<${pageId.slice(-8)}> hello from the page`), { timeout: 30_000, interval: 100 })

    running.process.stdin?.write('hello from the terminal\n')
    await waitForChatMessage(page, 'hello from the terminal')
    // the page lists the terminal member
    await page.waitForSelector('#members tr[data-route="direct"], #members tr[data-route="relayed"]', { timeout: 30_000 })

    // Ctrl-C leaves the room and exits 0
    const exited = once(running.process, 'exit')
    running.process.kill('SIGINT')
    const [code] = await exited
    expect(code).to.equal(0)
    cli = undefined
    await page.close()
  })

  it('a private room (--secret, or RELAYMESH_CHAT_SECRET): /msg sends to one member only, the other member does not see it, and a member of the open room of that name sees nothing', async () => {
    const room = 'cli-msg'
    const args = ['--relay', relay.wsAddr, '--room', room, '--ice-bind', '127.0.0.1']
    const clis = [
      startCli([...args, '--secret', 'cli secret']),
      startCli([...args, '--secret', 'cli secret']),
      startCli(args, { RELAYMESH_CHAT_SECRET: 'cli secret' }),
      startCli(args)
    ]
    const outsider = clis.pop()!
    clis.push(outsider)

    try {
      await pWaitFor(() => clis.every(c => printed(c, '* you are')), { timeout: 60_000, interval: 100 })
      expect(clis.map(c => c.lines.find(line => line.startsWith('* you are'))!.split(' ').slice(5, 7).join(' '))).to.deep.equal(['private room', 'private room', 'private room', 'room "cli-msg"'])
      clis.pop()
      const ids = clis.map(c => c.lines.find(line => line.startsWith('* you are'))!.split(' ')[3])
      const joined = (i: number): boolean => ids.every((id, j) => i === j || printed(clis[i], `* ${id} joined`))
      await pWaitFor(() => joined(0) && joined(1) && joined(2), { timeout: 60_000, interval: 100 })

      clis[0].process.stdin?.write(`/msg ${ids[1]} for your eyes only\n`)
      await pWaitFor(() => clis[1].lines.includes(`[${ids[0]} to you] for your eyes only`), { timeout: 30_000, interval: 100 })
      await pWaitFor(() => clis[0].lines.includes(`-> ${ids[1]}: for your eyes only`), { timeout: 30_000, interval: 100 })
      clis[0].process.stdin?.write('to everyone\n')
      await pWaitFor(() => clis[2].lines.includes(`<${ids[0]}> to everyone`), { timeout: 30_000, interval: 100 })
      expect(clis[2].lines.some(line => line.includes('for your eyes only'))).to.be.false()

      clis[0].process.stdin?.write('/msg nobody hello\n')
      await pWaitFor(() => clis[0].lines.includes('* no member nobody in the room'), { timeout: 10_000, interval: 100 })

      // the open room of the same name: nobody joined, nothing seen, and its messages reach nobody
      outsider.process.stdin?.write('from the open room\n')
      await delay(2000)
      expect(outsider.lines.filter(line => line.includes('joined') || line.includes('everyone') || line.includes('eyes'))).to.deep.equal([])
      expect(clis.some(c => c.lines.some(line => line.includes('from the open room')))).to.be.false()
    } finally {
      clis.push(outsider)
      await Promise.all(clis.map(async c => {
        const exited = once(c.process, 'exit')
        c.process.kill('SIGINT')
        await exited
      }))
    }
  })

  it('says clearly when the relay cannot be reached, and exits 1', async () => {
    const unreachable = '/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWAqcq3Sx8cwwHDvxwHZAxm7wSRP6czhRESLiFzZ2MP2sR'
    const failing = startCli(['--relay', unreachable, '--room', 'nowhere', '--timeout', '3'])
    const [code] = await once(failing.process, 'exit')
    expect(code).to.equal(1)
    expect(failing.stderr()).to.include('relaymesh-chat: cannot reach the relay')
    expect(failing.stderr()).to.include(unreachable)
    // and says why, not an empty reason
    expect(failing.stderr().trim()).to.not.match(/:$/)
    expect(failing.stderr()).to.not.include('[object')
  })

  it('refuses to start without --relay or --room, with the usage, and exits 2', async () => {
    const failing = startCli(['--room', 'x'])
    const [code] = await once(failing.process, 'exit')
    expect(code).to.equal(2)
    expect(failing.stderr()).to.include('--relay is required')
    expect(failing.stderr()).to.include('Usage: relaymesh-chat')
  })
})
