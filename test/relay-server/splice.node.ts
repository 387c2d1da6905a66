import '../fixtures/datachannel-cleanup.ts'
import { byteStream, streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { splice } from '../../relay/server/splice.ts'
import { readAll } from './fixtures.ts'
import type { Stream, StreamCloseEvent } from '@libp2p/interface'

describe('splice', () => {
  function listenerCounts (stream: Stream): number[] {
    return (['message', 'drain', 'idle', 'end', 'close', 'remoteCloseWrite'] as const).map(type => stream.listenerCount(type))
  }

  async function pairs (): Promise<{ a0: Stream, a1: Stream, b0: Stream, b1: Stream }> {
    const [a0, a1] = await streamPair()
    const [b0, b1] = await streamPair()
    return { a0, a1, b0, b1 }
  }

  it('forwards data sent and half-closed before the splice, then closes both sides', async () => {
    const { a0, a1, b0, b1 } = await pairs()
    const data = Uint8Array.from({ length: 5000 }, (_, i) => i % 251)
    a0.send(data)
    await a0.close()
    await pWaitFor(() => a1.remoteWriteStatus === 'closed')

    const before = { a1: listenerCounts(a1), b1: listenerCounts(b1) }
    const circuit = splice(a1, b1, { log: a1.log })
    expect(await readAll(b0)).to.equalBytes(data)

    b0.send(Uint8Array.from([1, 2, 3]))
    await b0.close()
    expect(await readAll(a0)).to.equalBytes(Uint8Array.from([1, 2, 3]))

    const result = await circuit.done
    expect(result).to.include({ forward: 5000, backward: 3, error: undefined })
    expect([a1.status, b1.status]).to.deep.equal(['closed', 'closed'])

    // every listener the splice added is gone
    expect(listenerCounts(a1)).to.deep.equal(before.a1)
    expect(listenerCounts(b1)).to.deep.equal(before.b1)
  })

  it('half-closes the other side at once when one side ended before the splice', async () => {
    const { a0, a1, b0, b1 } = await pairs()
    await a0.close()
    await pWaitFor(() => a1.readableEnded)

    const circuit = splice(a1, b1, { log: a1.log })
    expect(await readAll(b0)).to.have.lengthOf(0)
    await b0.close()
    expect((await circuit.done).error).to.be.undefined()
  })

  it('ends a circuit whose other side does not close after one side did', async () => {
    const { a0, a1, b0, b1 } = await pairs()
    const circuit = splice(a1, b1, { log: a1.log, halfCloseTimeout: 300 })
    await a0.close()
    expect(await readAll(b0)).to.have.lengthOf(0)

    // b0 never closes: the relay must not hold the circuit (and its slots) until the duration limit
    const { error } = await circuit.done
    expect(error?.name).to.equal('CircuitClosedError')
    expect(b1.status).to.not.equal('open')
  })

  it('aborts the other side when one side resets, and enforces the data limit per direction', async () => {
    const { a0, a1, b0, b1 } = await pairs()
    const circuit = splice(a1, b1, { log: a1.log })
    const reset = pEvent(b0, 'close')
    a0.abort(new Error('gone'))
    expect((await reset as StreamCloseEvent).error).to.be.ok()
    expect((await circuit.done).error?.name).to.equal('StreamResetError')

    const limited = await pairs()
    const limitedCircuit = splice(limited.a1, limited.b1, { log: limited.a1.log, limit: { data: 100n } })
    limited.a0.send(new Uint8Array(100))
    limited.b0.send(new Uint8Array(100))
    expect((await byteStream(limited.b0).read({ bytes: 100 })).byteLength).to.equal(100)
    expect(limited.a1.status).to.equal('open')
    limited.a0.send(new Uint8Array(1))
    expect((await limitedCircuit.done).error?.name).to.equal('TransferLimitError')
  })
})
