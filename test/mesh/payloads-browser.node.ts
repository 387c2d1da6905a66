import '../fixtures/datachannel-cleanup.ts'
import { createHash, randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { launchChromium, openMember, servePage } from '../fixtures/browser-member/serve.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createMember } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { RoomMessage } from '../../src/index.ts'
import type { ServedPage } from '../fixtures/browser-member/serve.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Browser, Page } from 'playwright-core'

const MiB = 1024 * 1024

interface PagePayload { id: string, sender: string, size: number, blocks: Array<{ length: number, sha256: string }>, progress: number[], done: boolean, error?: string }

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

async function pagePayloads (page: Page): Promise<PagePayload[]> {
  return page.evaluate(() => (globalThis as any).member.payloads)
}

describe('mesh: a 64 MiB payload between Chromium and Node', function () {
  this.timeout(240_000)
  let relay: RelayProcess
  let served: ServedPage
  let browser: Browser
  let nodes: MeshNode[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
    served = await servePage()
    browser = await launchChromium()
  })

  after(async () => {
    await stopNodes(nodes)
    await browser?.close()
    await served?.stop()
    await relay?.stop('SIGKILL')
  })

  it('both ways over WebRTC, byte for byte, with monotone progress', async () => {
    const room = 'payload-browser'
    const node = await createMember(relay.wsAddr)
    nodes = [node]
    const nodeRoom = await node.services.mesh.join(room)
    const page = await browser.newPage()
    const pagePeer = await openMember(page, served.url, relay.wsAddr, room)
    await pWaitFor(() => nodeRoom.members.some(m => m.peerId.toString() === pagePeer && m.route === 'direct'), { timeout: 60_000, interval: 250 })
    await page.waitForFunction(() => (globalThis as any).member.routes().some((m: any) => m.route === 'direct'), undefined, { timeout: 60_000 })

    // Node to Chromium
    const data = randomBytes(64 * MiB)
    await nodeRoom.send(data)
    await pWaitFor(async () => (await pagePayloads(page)).some(p => p.done || p.error != null), { timeout: 180_000, interval: 500 })
    const [atPage] = await pagePayloads(page)
    expect(atPage.error).to.equal(undefined)
    expect(atPage.size).to.equal(64 * MiB)
    let offset = 0

    for (const block of atPage.blocks) {
      expect(block.sha256, `block at ${offset}`).to.equal(sha256(data.subarray(offset, offset + block.length)))
      offset += block.length
    }

    expect(offset).to.equal(data.byteLength)
    expect(atPage.progress).to.deep.equal([...atPage.progress].sort((x, y) => x - y))
    expect(atPage.progress.at(-1)).to.equal(64 * MiB)

    // Chromium to Node
    const received = new Promise<RoomMessage>(resolve => {
      nodeRoom.addEventListener('message', (evt) => { if (evt.detail.payload != null) { resolve(evt.detail) } })
    })
    await page.evaluate(async (size) => (globalThis as any).member.sendPayload(size), 64 * MiB)
    const message = await received
    expect(message.sender.toString()).to.equal(pagePeer)
    const lengths: number[] = []
    const digests: string[] = []
    const progress: number[] = []
    nodeRoom.addEventListener('payload:progress', (evt) => { if (evt.detail.id === message.payload!.id) { progress.push(evt.detail.bytes) } })

    for await (const block of message.payload!.read()) {
      lengths.push(block.byteLength)
      digests.push(sha256(block))
    }

    const sent = await page.evaluate(async (lengths) => (globalThis as any).member.sentDigests(lengths), lengths)
    expect(sent.size).to.equal(64 * MiB)
    expect(digests).to.deep.equal(sent.digests)
    expect(progress).to.deep.equal([...progress].sort((x, y) => x - y))
    expect(progress.at(-1)).to.equal(64 * MiB)
    await page.close()
  })
})
