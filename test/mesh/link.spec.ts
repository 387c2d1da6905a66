import { streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { MAX_LOWER_STREAMS } from '../../src/mesh/constants.ts'
import { Link } from '../../src/mesh/link.ts'
import { Session } from '../../src/mesh/session.ts'
import type { Connection } from '@libp2p/interface'

/** a room stream on a connection that is direct or relayed (only what `Session` reads of it) */
async function session (direct: boolean): Promise<Session> {
  const [outbound] = await streamPair()
  const connection = { direct, limits: direct ? undefined : { bytes: 1n }, status: 'open' } as unknown as Connection
  return new Session(outbound, connection, true, 1024)
}

describe('the link with a member', () => {
  let link: Link

  beforeEach(() => {
    link = new Link()
  })

  afterEach(() => {
    link.close()
  })

  it('reads its state from its stream and the member\'s silence, never from a stored field', async () => {
    expect(link.state).to.equal('connecting')

    const relayed = await session(false)
    link.adopt(relayed)
    expect(link.state).to.equal('relayed')
    expect(link.session).to.equal(relayed)

    const direct = await session(true)
    link.adopt(direct)
    expect(link.state).to.equal('direct')

    link.silence(60_000, () => {})
    expect(link.state).to.equal('unreachable')
    link.recovered()
    expect(link.state).to.equal('direct')

    expect(link.detach(relayed), 'not its stream').to.be.undefined()
    expect(link.state).to.equal('direct')
    expect(link.detach(direct)).to.equal(direct)
    expect(link.state).to.equal('connecting')

    link.close()
    expect(link.state).to.equal('gone')
  })

  it('reads at most MAX_LOWER_STREAMS streams that ranked lower, and one that ended already takes no place', async () => {
    const ended = await session(true)
    ended.abort(new Error('the member reset it'))
    expect(link.keepLower(ended), 'an ended stream is read for what it holds').to.be.true()

    const open = await Promise.all(Array.from({ length: MAX_LOWER_STREAMS + 1 }, async () => session(true)))
    const kept = open.map(lower => link.keepLower(lower))
    expect(kept).to.deep.equal([...Array(MAX_LOWER_STREAMS).fill(true), false])
    expect(open[MAX_LOWER_STREAMS].stream.status, 'the one past the limit').to.not.equal('open')

    // a place is free again once a kept stream closes
    open[0].abort(new Error('closed'))
    expect(link.keepLower(await session(true))).to.be.true()
  })

  it('counts failures until a stream is adopted', async () => {
    expect(link.failed()).to.equal(1)
    expect(link.failed()).to.equal(2)
    expect(link.failures).to.equal(2)

    const direct = await session(true)
    link.retryTimer = setTimeout(() => { expect.fail('the retry must end when a stream is adopted') }, 50)
    link.adopt(direct)
    expect(link.failures).to.equal(0)
    await new Promise(resolve => setTimeout(resolve, 100))
  })

  it('abandons a silent member\'s stream after the timeout, unless it spoke again or the stream ended', async () => {
    let abandoned = 0
    const abandon = (): void => { abandoned++ }

    // silent, still silent after the timeout
    link.adopt(await session(true))
    link.silence(20, abandon)
    await new Promise(resolve => setTimeout(resolve, 60))
    expect(abandoned).to.equal(1)

    // silent, then spoke again
    link.silence(20, abandon)
    link.recovered()
    await new Promise(resolve => setTimeout(resolve, 60))
    expect(abandoned).to.equal(1)

    // silent, then its stream ended: nothing is left to abandon
    link.silence(20, abandon)
    link.detach()
    await new Promise(resolve => setTimeout(resolve, 60))
    expect(abandoned).to.equal(1)
    expect(link.state, 'still silent, with no stream').to.equal('unreachable')

    // silent without a stream: no timer at all
    link.silence(20, abandon)
    await new Promise(resolve => setTimeout(resolve, 60))
    expect(abandoned).to.equal(1)
  })

  it('once gone, hands back its stream and stops its timers', async () => {
    const direct = await session(true)
    link.adopt(direct)
    link.silence(20, () => { expect.fail('a gone link abandons nothing') })
    link.upgradeTimer = setTimeout(() => { expect.fail('a gone link upgrades nothing') }, 20)

    expect(link.close()).to.equal(direct)
    expect(link.state).to.equal('gone')
    expect(link.session).to.be.undefined()
    await new Promise(resolve => setTimeout(resolve, 60))
  })
})
