import '../fixtures/datachannel-cleanup.ts'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { buildChat } from '../../examples/browser-chat/build.ts'
import { launchChromium, openChat, sendChat as send, waitForChatMessage as waitForMessage, waitForChatRoute } from '../fixtures/browser-member/serve.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Browser, Page } from 'playwright-core'

const SCREENSHOTS = join('test-results', 'browser-chat')

/**
 * Types into `typist`'s input, a key every half second (typing lasts 3 s
 * after the last key), until `watcher` shows that Bob is typing.
 */
async function typeUntilSeen (typist: Page, watcher: Page, text: string): Promise<void> {
  const deadline = Date.now() + 30_000

  for (let i = 0; ; i++) {
    await typist.locator('#text').press(i < text.length ? text[i] : 'Space')

    try {
      await watcher.waitForFunction(() => document.querySelector('#typing')?.textContent === 'Bob is typing…', undefined, { timeout: 500 })
      return
    } catch (err) {
      if (Date.now() > deadline) {
        throw err
      }
    }
  }
}

/** waits until the chat page lists each of `names` as online */
async function waitForOnline (page: Page, names: readonly string[]): Promise<void> {
  await page.waitForFunction(names => {
    const online = [...document.querySelectorAll('#online li')].map(li => li.textContent)
    return names.every(name => online.includes(name))
  }, names, { timeout: 60_000 })
}

describe('examples/browser-chat', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let browser: Browser
  let dir: string
  let metricsPort: number

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'relaymesh-chat-'))
    await buildChat(dir)
    // the relay serves the page, which bootstraps from its /relaymesh.json
    // with a STUN server, which the page gets from /relaymesh.json and the relay-info protocol
    metricsPort = await freePort()
    relay = await startRelayProcess(['--max-reservations-per-ip', '64', '--http-port', `${await freePort()}`, '--http-root', dir, '--stun-port', '0', '--metrics-port', `${metricsPort}`])
    browser = await launchChromium()
    await mkdir(SCREENSHOTS, { recursive: true })
  })

  after(async () => {
    await browser?.close()
    await relay?.stop('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('two pages join a room, see each other on direct WebRTC, chat, and a reloaded page gets what it missed', async () => {
    const url = `${relay.page}?room=chat-test`
    // two browser contexts: two members, each with its own key and IndexedDB
    const [first, second] = await Promise.all([0, 1].map(async () => (await browser.newContext()).newPage()))
    const ids = await Promise.all([first, second].map(async page => openChat(page, url)))

    // each lists the other on a direct WebRTC route
    await waitForChatRoute(first, ids[1], 'direct')
    await waitForChatRoute(second, ids[0], 'direct')

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

    // the pages' WebRTC used the relay's STUN server, which each page lists with its relay
    expect(await first.locator('#relays').textContent()).to.include(`ICE stun:127.0.0.1:${relay.stunPort}`)
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    const answered = Number(/relaymesh_stun_requests_total\{result="answered"\} (\d+)/.exec(metrics)?.[1] ?? 0)
    expect(answered, metrics.split('\n').filter(l => l.includes('stun')).join('\n')).to.be.above(0)
  })

  it('names, who is online and typing, a direct message, a picture with a progress bar and a download link, in a private room from #secret= that a page without the secret cannot see', async () => {
    const secret = 'pw' + Math.random().toString(16).slice(2)
    const url = `${relay.page}?room=features#secret=${secret}`
    const contexts = await Promise.all([0, 1, 2, 3].map(async () => browser.newContext({ viewport: { width: 1100, height: 640 }, acceptDownloads: true })))
    const [ada, bob, cy, eve] = await Promise.all(contexts.map(async context => context.newPage()))
    const requested: string[] = []
    ;[ada, bob, cy, eve].forEach(page => page.on('request', request => { requested.push(request.url()) }))
    const ids = await Promise.all([ada, bob, cy].map(async page => openChat(page, url)))
    // the open room of the same name
    await openChat(eve, `${relay.page}?room=features`)
    expect(await ada.locator('#private').isVisible()).to.be.true()
    expect(await eve.locator('#private').isVisible()).to.be.false()

    for (const [page, name] of [[ada, 'Ada'], [bob, 'Bob'], [cy, 'Cy']] as const) {
      await page.fill('#name', name)
      await page.press('#name', 'Tab')
    }

    // each lists the others by name
    for (const [page, others] of [[ada, ['Bob', 'Cy']], [bob, ['Ada', 'Cy']], [cy, ['Ada', 'Bob']]] as const) {
      await waitForOnline(page, others)
    }

    // typing, from presence
    await typeUntilSeen(bob, ada, 'hel')
    await bob.fill('#text', '')

    // to everyone, then to Bob only
    await send(ada, 'hello all')
    await Promise.all([bob, cy].map(async page => waitForMessage(page, 'Ada: hello all')))
    await ada.selectOption('#to', ids[1])
    await send(ada, 'psst, Bob')
    await bob.waitForSelector('#messages li[data-direct="true"]:has-text("Ada → you: psst, Bob")', { timeout: 30_000 })
    await ada.waitForSelector('#messages li[data-direct="true"]:has-text("Ada → Bob: psst, Bob")', { timeout: 30_000 })
    await ada.selectOption('#to', '')

    // a picture (a screenshot, larger than a message) to everyone: a progress bar, then the picture and a link
    const picture = await eve.screenshot({ type: 'png' })
    expect(picture.byteLength).to.be.above(16 * 1024)
    await ada.setInputFiles('#file', { name: 'screen.png', mimeType: 'image/png', buffer: picture })
    const expected = createHash('sha256').update(picture).digest('hex')

    for (const page of [bob, cy]) {
      const file = page.locator('#messages li.file[data-done="true"]')
      await file.waitFor({ timeout: 60_000 })
      // the picture is shown (the page's policy lets it show its own blobs)
      await file.locator('img').evaluate(async (img: HTMLImageElement) => { await img.decode() })
      expect(await file.locator('a[download="screen.png"]').count()).to.equal(1)
      // saved through the link, as a person would
      const [download] = await Promise.all([page.waitForEvent('download'), file.locator('a[download]').click()])
      expect(download.suggestedFilename()).to.equal('screen.png')
      const hash = createHash('sha256').update(await readFile(await download.path())).digest('hex')
      const bar = await file.locator('progress').evaluate((progress: HTMLProgressElement) => ({ value: progress.value, max: progress.max }))
      const saved = { hash, ...bar }
      expect(saved).to.deep.equal({ hash: expected, value: picture.byteLength, max: picture.byteLength })
    }

    await typeUntilSeen(bob, ada, 'nice')
    await ada.screenshot({ path: join(SCREENSHOTS, 'features-ada.png') })
    await bob.screenshot({ path: join(SCREENSHOTS, 'features-bob.png') })

    // Cy never got the direct message, and the page without the secret saw nothing
    expect(await cy.locator('#messages li:has-text("psst")').count()).to.equal(0)
    expect(await eve.locator('#online li').count()).to.equal(1)
    expect(await eve.locator('#messages li:not(.notice)').count()).to.equal(0)
    await eve.screenshot({ path: join(SCREENSHOTS, 'features-eve.png') })

    // the secret never left the browsers
    expect(requested.length).to.be.above(0)
    // (what is sent is the URL without its fragment)
    expect(requested.filter(u => u.split('#')[0].includes(secret))).to.deep.equal([])

    // the name is kept with the key: a reload is Bob again
    await bob.goto('about:blank')
    await openChat(bob, url)
    expect(await bob.inputValue('#name')).to.equal('Bob')
    await Promise.all(contexts.map(async context => context.close()))
  })
})
