import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { DialTimes } from '../../src/mesh/dial-times.ts'
import { isPairDialer } from '../../src/mesh/link-dialer.ts'

describe('isPairDialer', () => {
  let ids: string[]

  before(async () => {
    ids = await Promise.all(Array.from({ length: 40 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  })

  it('names exactly one dialer of each pair, the same on both sides', () => {
    for (const a of ids) {
      for (const b of ids) {
        if (a !== b) {
          expect(isPairDialer(a, b)).to.not.equal(isPairDialer(b, a), `${a} ${b}`)
        }
      }
    }
  })

  it('spreads the dials: no member dials most of the others (the lowest id dialed all of them)', () => {
    const sorted = [...ids].sort()
    const dials = sorted.map(a => sorted.filter(b => b !== a && isPairDialer(a, b)).length)

    // 39 pairs each, about half dialed: the odds of any of the 40 members
    // outside 4..35 are about 1.4 in a million
    expect(Math.min(...dials), dials.join(' ')).to.be.at.least(4)
    expect(Math.max(...dials), dials.join(' ')).to.be.at.most(35)
    expect(dials[0], 'the lowest id').to.be.below(39)
    expect(dials[dials.length - 1], 'the highest id').to.be.above(0)
  })
})

describe('DialTimes', () => {
  it('has no median before a sample, then the median of the latest samples', () => {
    const times = new DialTimes(3)
    expect(times.median()).to.be.undefined()

    times.add(100)
    expect(times.median()).to.equal(100)

    times.add(900)
    times.add(300)
    expect(times.median()).to.equal(300)

    // 100 falls out
    times.add(1000)
    times.add(2000)
    expect(times.median()).to.equal(1000)
  })
})
