import '../fixtures/datachannel-cleanup.ts'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { launchChromium, openChat, sendChat, waitForChatMessage, waitForChatRoute } from '../fixtures/browser-member/serve.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { startNpmStart } from '../fixtures/relay-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Browser } from 'playwright-core'

/** whether any process of the group `-pgid` still runs */
function groupAlive (group: number): boolean {
  try {
    process.kill(group, 0)
    return true
  } catch {
    return false
  }
}

describe('npm start', function () {
  this.timeout(240_000)
  let relay: RelayProcess | undefined
  let browser: Browser | undefined

  after(async () => {
    await browser?.close()
    await relay?.stop('SIGKILL')
  })

  it('builds, serves the chat page from the relay, two tabs of one browser chat directly, and Ctrl-C stops it', async () => {
    const httpPort = await freePort()
    relay = await startNpmStart(['--http-port', `${httpPort}`, '--max-reservations-per-ip', '64'])
    expect(relay.page).to.equal(`http://127.0.0.1:${httpPort}/`)
    // what it tells a newcomer to do next, on stderr after the ready line
    const stderr = relay.stderr
    await pWaitFor(() => stderr().includes('Ctrl-C stops the relay'), { timeout: 10_000 })
    expect(stderr()).to.include(`Chat page: ${relay.page}?room=lobby`)
    expect(stderr()).to.include(`npm run chat -- --relay ${relay.wsAddr} --room lobby`)

    // two tabs of one browser profile (shared localStorage and IndexedDB) are two members
    browser = await launchChromium()
    const context = await browser.newContext()
    const tabs = [await context.newPage(), await context.newPage()]
    const url = `${relay.page}?room=npm-start`
    const ids = await Promise.all(tabs.map(async tab => openChat(tab, url)))
    expect(ids[0]).to.not.equal(ids[1])
    await waitForChatRoute(tabs[0], ids[1], 'direct')
    await waitForChatRoute(tabs[1], ids[0], 'direct')

    await sendChat(tabs[0], 'hello from tab one')
    await waitForChatMessage(tabs[1], 'hello from tab one')
    await sendChat(tabs[1], 'hello from tab two')
    await waitForChatMessage(tabs[0], 'hello from tab two')
    // the member list shows the RTT the heartbeats measure
    await tabs[0].waitForFunction(() => document.querySelector('#members tr td:nth-child(3)')?.textContent?.endsWith(' ms') === true, undefined, { timeout: 30_000 })
    await tabs[0].screenshot({ path: join('test-results', 'browser-chat', 'npm-start-tab.png') })

    // Ctrl-C: SIGINT to the whole process group. The relay stops within its
    // deadline; npm ends as a shell's Ctrl-C ends it (exit 0 or by SIGINT), and
    // nothing of the group is left
    const started = Date.now()
    const code = await relay.stop('SIGINT')
    expect(Date.now() - started).to.be.below(10_000)
    expect(code === 0 || relay.process.signalCode === 'SIGINT', `npm exited with ${code} (${relay.process.signalCode})`).to.be.true()
    expect(stderr()).to.include('relaymesh-relay: SIGINT, stopping')
    expect(stderr()).to.not.match(/took too long|error while stopping/)
    const group = -(relay.process.pid ?? 0)
    relay = undefined
    await pWaitFor(() => !groupAlive(group), { timeout: 5000 })
    await expect(fetch(`http://127.0.0.1:${httpPort}/`)).to.eventually.be.rejected()
  })
})
