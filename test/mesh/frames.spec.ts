import { streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { Frames } from '../../src/mesh/frames.ts'

const frame = (n: number, size = 8): Uint8Array => new Uint8Array(size).fill(n)

describe('length-prefixed frames', () => {
  it('reads many frames written at once, in order, and a frame split across chunks', async () => {
    const [outbound, inbound] = await streamPair()
    const writer = new Frames(outbound, 1024)
    const reader = new Frames(inbound, 1024)

    await writer.write([frame(1), frame(2, 300), frame(3, 0)])
    const read = [await reader.read(), await reader.read(), await reader.read()]
    expect(read.map(f => f.subarray())).to.deep.equal([frame(1), frame(2, 300), frame(3, 0)])

    // one frame sent a byte at a time
    const bytes = new Uint8ArrayList(varint.encode(200), frame(4, 200)).subarray()

    for (const byte of bytes) {
      outbound.send(Uint8Array.of(byte))
    }

    expect((await reader.read()).subarray()).to.deep.equal(frame(4, 200))
  })

  it('refuses a frame over the limit and a length prefix longer than the limit needs, and resets the stream', async () => {
    for (const [bytes, name] of [
      [new Uint8ArrayList(varint.encode(1025), frame(0, 16)).subarray(), 'MessageTooLargeError'],
      [Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]), 'InvalidMessageError']
    ] as const) {
      const [outbound, inbound] = await streamPair()
      const reader = new Frames(inbound, 1024)
      const closed = pEvent(inbound, 'close')
      outbound.send(bytes)
      await expect(reader.read()).to.eventually.be.rejected.with.property('name', name)
      await closed
      expect(inbound.status).to.not.equal('open')
    }
  })

  it('gives the frames that arrived before the stream ended, then says it ended', async () => {
    const [outbound, inbound] = await streamPair()
    const writer = new Frames(outbound, 1024)
    const reader = new Frames(inbound, 1024)
    await writer.write([frame(1), frame(2)])
    await outbound.close()

    expect((await reader.read()).subarray()).to.deep.equal(frame(1))
    expect((await reader.read()).subarray()).to.deep.equal(frame(2))
    await expect(reader.read()).to.eventually.be.rejected.with.property('name', 'StreamEndedError')
  })

  it('says a stream the remote reset was reset, not that it ended (a reset also dispatches \'end\', before its error)', async () => {
    const [outbound, inbound] = await streamPair()
    const reader = new Frames(inbound, 1024)
    const reset = pEvent(inbound, 'close')
    outbound.abort(new Error('the remote gives up'))
    await reset

    await expect(reader.read()).to.eventually.be.rejected.with.property('name', 'StreamResetError')
  })

  it('gives what a stream held when it was reset before anyone read it, then says it was reset (does not wait forever)', async () => {
    const [outbound, inbound] = await streamPair()
    const writer = new Frames(outbound, 1024)
    const reset = pEvent(inbound, 'close')
    await writer.write([frame(1)])
    // with no 'message' listener yet, the stream holds what arrives
    await pWaitFor(() => inbound.readBufferLength > 0)
    outbound.abort(new Error('the remote gives up'))
    await reset

    // the handler comes late: the frame is still held, the reset already happened
    const reader = new Frames(inbound, 1024)
    expect((await reader.read({ signal: AbortSignal.timeout(1000) })).subarray()).to.deep.equal(frame(1))
    await expect(reader.read({ signal: AbortSignal.timeout(1000) })).to.eventually.be.rejected.with.property('name', 'StreamResetError')
  })

  it('says a stream this side aborted was aborted, not that it ended', async () => {
    const [, inbound] = await streamPair()
    const reader = new Frames(inbound, 1024)
    inbound.abort(new Error('we give up'))

    await expect(reader.read()).to.eventually.be.rejected.with.property('message', 'we give up')
  })

  it('stops a read when its signal aborts', async () => {
    const [, inbound] = await streamPair()
    const reader = new Frames(inbound, 1024)
    await expect(reader.read({ signal: AbortSignal.timeout(50) })).to.eventually.be.rejected.with.property('name', 'TimeoutError')
  })
})
