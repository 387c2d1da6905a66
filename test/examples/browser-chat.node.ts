import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { buildChat } from '../../examples/browser-chat/build.ts'
import { launchChromium, serveDirectory } from '../fixtures/browser-member/serve.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { ServedPage } from '../fixtures/browser-member/serve.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Browser, Page } from 'playwright-core'

const SCREENSHOTS = join('test-results', 'browser-chat')

async function send (page: Page, text: string): Promise<void> {
  await page.fill('#text', text)
  await page.press('#text', 'Enter')
}

async function waitForMessage (page: Page, text: string, replayed = false): Promise<void> {
  await page.waitForFunction(([t, r]) => [...document.querySelectorAll('#messages li')].some(li =>
    li.textContent?.includes(t as string) === true && (r !== true || (li as HTMLElement).dataset.replayed === 'true')), [text, replayed], { timeout: 60_000 })
}

describe('examples/browser-chat', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let served: ServedPage
  let browser: Browser
  let dir: string

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
    dir = await mkdtemp(join(tmpdir(), 'relaymesh-chat-'))
    await buildChat(dir)
    served = await serveDirectory(dir)
    browser = await launchChromium()
    await mkdir(SCREENSHOTS, { recursive: true })
  })

  after(async () => {
    await browser?.close()
    await served?.stop()
    await relay?.stop('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('two pages join a room, see each other on direct WebRTC, chat, and a reloaded page gets what it missed', async () => {
    const url = `${served.url}?room=chat-test&relay=${encodeURIComponent(relay.wsAddr)}`
    // two browser contexts: two members, each with its own key and IndexedDB
    const [first, second] = await Promise.all([0, 1].map(async () => (await browser.newContext()).newPage()))
    await Promise.all([first, second].map(async page => page.goto(url)))
    const ids = await Promise.all([first, second].map(async page => {
      await page.waitForFunction(() => (globalThis as any).chat != null, undefined, { timeout: 60_000 })
      return page.evaluate(() => (globalThis as any).chat.node.peerId.toString())
    }))

    // each lists the other on a direct WebRTC route
    for (const [page, other] of [[first, ids[1]], [second, ids[0]]] as Array<[Page, string]>) {
      await page.waitForSelector(`#members tr[data-peer="${other}"][data-route="direct"]`, { timeout: 60_000 })
    }

    await send(first, 'hello from the first page')
    await waitForMessage(second, 'hello from the first page')
    await send(second, 'hello back')
    await waitForMessage(first, 'hello back')
    await first.screenshot({ path: join(SCREENSHOTS, 'first.png') })
    await second.screenshot({ path: join(SCREENSHOTS, 'second.png') })

    // the second page goes away and comes back: same member, missed message replayed
    await second.goto('about:blank')
    await send(first, 'sent while you were away')
    await second.goto(url)
    await waitForMessage(second, 'sent while you were away', true)
    expect(await second.evaluate(() => (globalThis as any).chat.node.peerId.toString())).to.equal(ids[1])
    await second.screenshot({ path: join(SCREENSHOTS, 'second-after-reload.png') })
  })
})
