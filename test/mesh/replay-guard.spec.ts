import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { ReplayGuard } from '../../src/mesh/replay/guard.ts'
import type { PeerId } from '@libp2p/interface'

const nonce = (n: number): Uint8Array => Uint8Array.of(n, 0, 0, 0)

describe('replay guard', () => {
  let a: PeerId
  let b: PeerId

  before(async () => {
    [a, b] = await Promise.all([0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
  })

  it('answers one replay of a member at a time, each request once', () => {
    const guard = new ReplayGuard({ bytesPerMinute: 1000, maxNonces: 10, nonceLifetime: 90_000 })
    const done = guard.begin(a, nonce(1), 0)
    expect(() => guard.begin(a, nonce(2), 0)).to.throw().with.property('name', 'ReplayRefusedError')
    // another member is not held up
    guard.begin(b, nonce(1), 0)()
    done()
    expect(() => guard.begin(a, nonce(1), 1)).to.throw().with.property('name', 'ReplayRefusedError')
    guard.begin(a, nonce(2), 1)()
  })

  it('keeps each member\'s nonces apart, for their lifetime', () => {
    const guard = new ReplayGuard({ bytesPerMinute: 1000, maxNonces: 3, nonceLifetime: 1000 })

    for (let n = 0; n < 3; n++) {
      guard.begin(a, nonce(n), 0)()
    }

    // a has used its share; b has not
    expect(() => guard.begin(a, nonce(9), 10)).to.throw().with.property('name', 'ReplayRefusedError')
    guard.begin(b, nonce(9), 10)()
    // once its first ones expire, a may ask again
    guard.begin(a, nonce(9), 1001)()
  })

  it('takes bytes from a per-member budget that refills over a minute', () => {
    const guard = new ReplayGuard({ bytesPerMinute: 6000, maxNonces: 10, nonceLifetime: 1000 })
    expect(guard.take(a, 5000, 0)).to.be.true()
    expect(guard.take(a, 2000, 0)).to.be.false()
    expect(guard.take(b, 6000, 0)).to.be.true()
    // 10 s later a has 1,000 + 1,000 bytes
    expect(guard.take(a, 2000, 10_000)).to.be.true()
    expect(guard.take(a, 1, 10_000)).to.be.false()
    // never more than a minute's worth
    expect(guard.take(a, 6001, 600_000)).to.be.false()
    expect(guard.take(a, 6000, 600_000)).to.be.true()
  })
})
