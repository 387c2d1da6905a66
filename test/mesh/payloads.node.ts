import '../fixtures/datachannel-cleanup.ts'
import { createHash, randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { encodeManifest } from '../../src/mesh/payloads/manifest.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createMember, createPartitionable, impl, inbox, waitForFullMesh } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { DirectMessage, PayloadProgress, Room, RoomMessage } from '../../src/index.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'

const MiB = 1024 * 1024

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** reads a payload block by block, hashing it (nothing kept) */
async function digestOf (message: { payload?: RoomMessage['payload'] }): Promise<{ hash: string, size: number }> {
  const hash = createHash('sha256')
  let size = 0

  for await (const block of message.payload!.read()) {
    hash.update(block)
    size += block.byteLength
  }

  return { hash: hash.digest('hex'), size }
}

function progressOf (room: Room): PayloadProgress[] {
  const events: PayloadProgress[] = []
  room.addEventListener('payload:progress', (evt) => { events.push(evt.detail) })
  return events
}

describe('mesh: large payloads', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
  })

  it('a payload larger than a message: the message carries its manifest, the member fetches the bytes, equal, with progress', async () => {
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('payload')))
    await waitForFullMesh(rooms, nodes)
    const atB = inbox(rooms[1])
    const downloads = progressOf(rooms[1])
    const uploads = progressOf(rooms[0])

    const data = randomBytes(3 * MiB + 12345)
    await rooms[0].send(encode('small first'))
    const sent = await rooms[0].send(data, { name: 'noise.bin', type: 'application/octet-stream' })
    await pWaitFor(() => atB.length === 2, { timeout: 10_000, interval: 50 })
    expect(atB[1].seq).to.equal(2)
    expect(atB[1].data).to.have.lengthOf(0)
    const payload = atB[1].payload!
    expect(payload).to.include({ size: data.byteLength, name: 'noise.bin', type: 'application/octet-stream' })
    expect(payload.sender.equals(nodes[0].peerId)).to.be.true()
    expect(payload.id).to.equal(sent.payloadId)

    const bytes = await payload.bytes()
    expect(sha256(bytes)).to.equal(sha256(data))
    expect(downloads.length).to.be.at.least(2)
    expect(downloads.map(p => p.bytes)).to.deep.equal([...downloads.map(p => p.bytes)].sort((x, y) => x - y))
    expect(downloads.at(-1)).to.include({ bytes: data.byteLength, total: data.byteLength, direction: 'download' })
    await pWaitFor(() => uploads.at(-1)?.bytes === data.byteLength, { timeout: 5_000, interval: 50 })
    expect(uploads.every(p => p.direction === 'upload' && p.peerId.equals(nodes[1].peerId) && p.id === sent.payloadId)).to.be.true()

    // read again, as a Blob
    const blob = await payload.blob()
    expect(blob.type).to.equal('application/octet-stream')
    expect(sha256(new Uint8Array(await blob.arrayBuffer()))).to.equal(sha256(data))
  })

  it('a payload larger than a member takes is still a message there: read() throws MessageTooLargeError, and the messages after it arrive', async () => {
    nodes = await Promise.all([{}, { mesh: { maxPayloadSize: MiB } }].map(async init => createMember(relay.wsAddr, init)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('payload-limits')))
    await waitForFullMesh(rooms, nodes)
    const atB = inbox(rooms[1])

    await rooms[0].send(randomBytes(2 * MiB))
    await rooms[0].send(encode('after it'))
    await pWaitFor(() => atB.length === 2, { timeout: 10_000, interval: 50 })
    expect(atB[0].payload?.size).to.equal(2 * MiB)
    await expect(atB[0].payload!.bytes()).to.eventually.be.rejected.with.property('name', 'MessageTooLargeError')
    expect(new TextDecoder().decode(atB[1].data)).to.equal('after it')
  })

  it('a direct payload only its recipient can fetch, also through a member when the pair cannot connect', async () => {
    const members = await Promise.all([0, 1, 2].map(async () => createPartitionable(relay.wsAddr)))
    nodes = members.map(m => m.node)
    const [a, b, c] = nodes
    await members[0].cut(c.peerId)
    await members[2].cut(a.peerId)
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('direct-payload')))
    await pWaitFor(() => rooms[0].member(b.peerId)?.state === 'direct' && rooms[2].member(b.peerId)?.state === 'direct' &&
      rooms[0].member(c.peerId) != null && rooms[2].member(a.peerId) != null, { timeout: 30_000, interval: 100 })
    const atC: DirectMessage[] = []
    rooms[2].addEventListener('direct', (evt) => { atC.push(evt.detail) })
    const atB: DirectMessage[] = []
    rooms[1].addEventListener('direct', (evt) => { atB.push(evt.detail) })

    const data = randomBytes(2 * MiB)
    const sent = await rooms[0].sendTo(c.peerId, new Blob([data]), { name: 'for-c.bin' })
    expect(atC).to.have.lengthOf(1)
    expect(atC[0].payload?.id).to.equal(sent.payloadId)
    expect(atC[0].payload?.name).to.equal('for-c.bin')
    const fetched = await digestOf(atC[0])
    expect(fetched).to.deep.equal({ hash: sha256(data), size: data.byteLength })
    expect(a.getConnections(c.peerId)).to.be.empty()

    // b, which passed it on, cannot fetch it for itself, manifest in hand
    const manifest = encodeManifest((atC[0].payload as any).manifest)
    const stolen = impl(rooms[1]).payloads.incoming(a.peerId, manifest)
    await expect(stolen.bytes()).to.eventually.be.rejected.with.property('name', 'PayloadUnavailableError')
    expect(atB).to.be.empty()
  })
})

function encode (text: string): Uint8Array {
  return new TextEncoder().encode(text)
}
