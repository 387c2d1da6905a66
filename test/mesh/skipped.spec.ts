import { expect } from 'aegir/chai'
import { MAX_SKIPPED_RANGES, noteSkipped, outside } from '../../src/mesh/messages/inbound.ts'
import type { SignedRoomMessage } from '../../src/envelope/batch.ts'
import type { Inbound } from '../../src/mesh/messages/inbound.ts'

describe('seqs a sender skipped after a crash', () => {
  it('a gap leaves out every skipped range, and only those', () => {
    expect(outside(5, 20, [])).to.deep.equal([{ from: 5, to: 20 }])
    expect(outside(5, 20, [{ from: 1, to: 4 }, { from: 21, to: 30 }])).to.deep.equal([{ from: 5, to: 20 }])
    expect(outside(5, 20, [{ from: 5, to: 20 }])).to.deep.equal([])
    expect(outside(5, 20, [{ from: 1, to: 30 }])).to.deep.equal([])
    expect(outside(5, 20, [{ from: 8, to: 10 }])).to.deep.equal([{ from: 5, to: 7 }, { from: 11, to: 20 }])
    // two crashes: both ranges are kept out
    expect(outside(5, 40, [{ from: 8, to: 10 }, { from: 15, to: 30 }])).to.deep.equal([{ from: 5, to: 7 }, { from: 11, to: 14 }, { from: 31, to: 40 }])
    expect(outside(9, 8, [])).to.deep.equal([])
  })

  it('keeps the latest few ranges, each once, from a batch\'s first message only', () => {
    const inbound = { skipped: [] } as unknown as Inbound
    const message = (seq: number, firstSeq: number, skippedFrom?: number): SignedRoomMessage =>
      ({ seq, batch: { firstSeq, skippedFrom } }) as unknown as SignedRoomMessage

    noteSkipped(inbound, message(101, 100, 50))
    noteSkipped(inbound, message(7, 7))
    expect(inbound.skipped).to.be.empty()

    noteSkipped(inbound, message(100, 100, 50))
    noteSkipped(inbound, message(100, 100, 50))
    expect(inbound.skipped).to.deep.equal([{ from: 50, to: 99 }])

    for (let crash = 1; crash <= 10; crash++) {
      noteSkipped(inbound, message(1000 * crash, 1000 * crash, 1000 * crash - 10))
    }

    expect(inbound.skipped).to.have.lengthOf(MAX_SKIPPED_RANGES)
    expect(inbound.skipped.at(-1)).to.deep.equal({ from: 9990, to: 9999 })
  })
})
