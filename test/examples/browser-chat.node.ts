import '../fixtures/datachannel-cleanup.ts'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { buildChat } from '../../examples/browser-chat/build.ts'
import { launchChromium, openChat, sendChat as send, waitForChatMessage as waitForMessage, waitForChatRoute } from '../fixtures/browser-member/serve.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Browser } from 'playwright-core'

const SCREENSHOTS = join('test-results', 'browser-chat')

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
})
