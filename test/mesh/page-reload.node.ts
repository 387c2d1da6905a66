import '../fixtures/datachannel-cleanup.ts'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { launchChromium, openMember, pageMessages as received, servePage } from '../fixtures/browser-member/serve.ts'
import { startMeshMember } from '../fixtures/mesh-member-process.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { ServedPage } from '../fixtures/browser-member/serve.ts'
import type { MeshMemberProcess } from '../fixtures/mesh-member-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Browser } from 'playwright-core'

describe('mesh: a member in a web page that is reloaded', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let members: MeshMemberProcess[] = []
  let served: ServedPage
  let browser: Browser

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
    served = await servePage()
    browser = await launchChromium()
  })

  after(async () => {
    await Promise.all(members.map(async member => member.stop()))
    await browser?.close()
    await served?.stop()
    await relay?.stop('SIGKILL')
  })

  it('is the same member after a reload (key in localStorage, log in IndexedDB) and gets what it missed, nothing twice', async () => {
    const room = 'page-reload'
    members = await Promise.all([0, 1].map(async () => startMeshMember({ relay: relay.wsAddr, room, echo: true })))
    const [a] = members
    const page = await browser.newPage()
    const peerId = await openMember(page, served.url, relay.wsAddr, room)
    await page.waitForFunction(() => (globalThis as any).member.routes().filter((m: any) => m.route !== 'none').length === 2, undefined, { timeout: 60_000 })

    await page.evaluate(async () => (globalThis as any).member.send('before the reload'))
    await pWaitFor(async () => (await received(page)).filter(m => m.text === 'echo:before the reload').length === 2, { timeout: 30_000, interval: 200 })

    // the page goes away; a Node member sends meanwhile; the page comes back
    await page.goto('about:blank')
    await a.sendMany(50, 'away-', 10, 20)
    expect(await openMember(page, served.url, relay.wsAddr, room)).to.equal(peerId)

    await pWaitFor(async () => (await received(page)).filter(m => m.sender === a.peerId && m.text.startsWith('away-')).length === 50, { timeout: 60_000, interval: 250 })
    await new Promise(resolve => setTimeout(resolve, 1000))
    const after = await received(page)
    const fromA = after.filter(m => m.sender === a.peerId && m.text.startsWith('away-'))
    expect(fromA.map(m => m.text)).to.deep.equal(Array.from({ length: 50 }, (_, i) => `away-${i + 1}`))
    expect(fromA.every(m => m.replayed)).to.be.true()
    expect(after.filter(m => m.text === 'echo:before the reload'), 'what it had is not delivered again').to.be.empty()
    await page.screenshot({ path: 'test-results/page-reload.png' }).catch(() => {})
    await page.close()
  })
})
