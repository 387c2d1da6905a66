import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { backoff } from '../../src/health/backoff.ts'
import { chooseRelays } from '../../src/relays/index.ts'
import type { RelayCandidate } from '../../src/relays/index.ts'
import type { PeerId } from '@libp2p/interface'

async function peers (n: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

function candidate (peerId: PeerId, latency?: number): RelayCandidate {
  return { peerId, addrs: [], source: 'dht', latency, failures: 0, retryAt: 0 }
}

describe('chooseRelays', () => {
  it('fills free slots with the fastest measured candidates', async () => {
    const [a, b, c] = await peers(3)
    const chosen = chooseRelays([], [candidate(a, 120), candidate(b, 5), candidate(c, 40)], 2, 0.3)
    expect(chosen.map(String)).to.deep.equal([b, c].map(String))
  })

  it('ignores candidates that were not measured', async () => {
    const [a, b] = await peers(2)
    expect(chooseRelays([], [candidate(a), candidate(b, 50)], 2, 0.3).map(String)).to.deep.equal([b.toString()])
  })

  it('keeps a held relay when a candidate is only a little faster (hysteresis)', async () => {
    const [held, other] = await peers(2)
    const chosen = chooseRelays([held], [candidate(held, 50), candidate(other, 40)], 1, 0.3)
    expect(chosen.map(String)).to.deep.equal([held.toString()])
  })

  it('switches when a candidate is clearly faster, one relay per call', async () => {
    const [slow, slower, fast, faster] = await peers(4)
    const candidates = [candidate(slow, 100), candidate(slower, 200), candidate(fast, 10), candidate(faster, 5)]
    const chosen = chooseRelays([slow, slower], candidates, 2, 0.3)
    expect(chosen.map(String)).to.have.members([slow, faster].map(String))
  })

  it('does not flap under jitter around the threshold', async () => {
    const [held, other] = await peers(2)
    let current = [held]

    for (let i = 0; i < 100; i++) {
      // both hover around 50 ms, +-15 % (a 30 % hysteresis absorbs up to about +-17 %)
      const jitter = (): number => 50 * (0.85 + Math.random() * 0.3)
      current = chooseRelays(current, [candidate(held, jitter()), candidate(other, jitter())], 1, 0.3)
    }

    expect(current.map(String)).to.deep.equal([held.toString()])
  })

  it('keeps held relays that have no current measurement', async () => {
    const [held, other] = await peers(2)
    expect(chooseRelays([held], [candidate(other, 1)], 1, 0.3).map(String)).to.deep.equal([held.toString()])
  })
})

describe('backoff', () => {
  it('stays within [0, min(max, initial * 2^(failures - 1))]', () => {
    for (let failures = 1; failures < 20; failures++) {
      for (let i = 0; i < 50; i++) {
        const delay = backoff(failures, 1000, 300_000)
        expect(delay).to.be.within(0, Math.min(300_000, 1000 * 2 ** (failures - 1)))
      }
    }
  })

  it('spreads retries (full jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoff(8, 1000, 300_000)))
    expect(delays.size).to.be.above(40)
  })
})

describe('chooseRelays minimum gain', () => {
  it('does not switch for a large relative but small absolute gain', async () => {
    const [held, other] = await peers(2)
    // 1 ms against 8 ms is 87 % faster but only 7 ms: loopback noise
    expect(chooseRelays([held], [candidate(held, 8), candidate(other, 1)], 1, 0.3, 10).map(String)).to.deep.equal([held.toString()])
    expect(chooseRelays([held], [candidate(held, 80), candidate(other, 10)], 1, 0.3, 10).map(String)).to.deep.equal([other.toString()])
  })
})
