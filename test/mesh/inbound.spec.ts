import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { InboundTracker } from '../../src/mesh/messages/inbound.ts'
import type { Inbound } from '../../src/mesh/messages/inbound.ts'
import type { PeerId } from '@libp2p/interface'

async function peers (n: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

describe('per-sender state (InboundTracker)', () => {
  it('keeps at most maxEpochs epochs per sender: the oldest is dropped, reported, and refused from then on', async () => {
    const [sender] = await peers(1)
    const dropped: Inbound[] = []
    const tracker = new InboundTracker({ maxEpochs: 2, maxSenders: 10, isMember: () => true, dropped: inbound => { dropped.push(inbound) } })

    tracker.open(sender, 1)!.next = 5
    tracker.open(sender, 2)
    expect(tracker.size).to.equal(2)
    tracker.open(sender, 3)

    expect(tracker.size).to.equal(2)
    expect(dropped.map(inbound => [inbound.epoch, inbound.next])).to.deep.equal([[1, 5]])
    // a message of the dropped epoch is no news, and makes no entry
    expect(tracker.wants(sender, 1, 100)).to.be.false()
    expect(tracker.open(sender, 1)).to.be.undefined()
    // an epoch older than every followed one, while maxEpochs are followed, neither
    expect(tracker.open(sender, 0)).to.be.undefined()
    expect(tracker.wants(sender, 3, 1)).to.be.true()
    expect(tracker.wants(sender, 4, 1)).to.be.true()
  })

  it('keeps at most maxSenders senders: the least recently heard non-member makes room, and its epochs so far stay refused', async () => {
    const [member, a, b, c] = await peers(4)
    const dropped: Inbound[] = []
    const tracker = new InboundTracker({ maxEpochs: 8, maxSenders: 3, isMember: peer => peer.equals(member), dropped: inbound => { dropped.push(inbound) } })

    tracker.open(member, 1, 1)
    tracker.open(a, 7, 2)
    tracker.open(b, 1, 3)
    tracker.open(c, 1, 4)

    // the member was heard from first, but a is the oldest non-member
    expect([...tracker.values()].map(inbound => inbound.sender.toString()).sort()).to.deep.equal([member, b, c].map(String).sort())
    expect(dropped.map(inbound => inbound.sender.toString())).to.deep.equal([a.toString()])
    // nothing of what a sent so far is delivered twice, a newer epoch is news
    expect(tracker.wants(a, 7, 1000)).to.be.false()
    expect(tracker.open(a, 7)).to.be.undefined()
    expect(tracker.wants(a, 8, 1)).to.be.true()
  })

  it('remembers at most 4 x maxSenders forgotten senders', async () => {
    const senders = await peers(20)
    const tracker = new InboundTracker({ maxEpochs: 8, maxSenders: 2, isMember: () => false, dropped: () => {} })

    senders.forEach((sender, i) => tracker.open(sender, 5, i))

    expect(tracker.size).to.equal(2)
    // the 8 most recently forgotten are still refused; older ones are not remembered
    expect(tracker.wants(senders[17], 5, 1)).to.be.false()
    expect(tracker.wants(senders[10], 5, 1)).to.be.false()
    expect(tracker.wants(senders[0], 5, 1)).to.be.true()
  })
})
