import { generateKeyPair } from '@libp2p/crypto/keys'
import { expect } from 'aegir/chai'
import { sealRoomMessage } from '../../src/envelope/message.ts'
import { MessageLog, streamKey } from '../../src/mesh/log.ts'
import type { SignedRoomMessage } from '../../src/envelope/message.ts'
import type { PrivateKey } from '@libp2p/interface'

describe('room message log', () => {
  let key: PrivateKey
  const messages: SignedRoomMessage[] = []

  before(async () => {
    key = await generateKeyPair('Ed25519')

    for (let seq = 1; seq <= 10; seq++) {
      messages.push(await sealRoomMessage({ room: 'r', epoch: 1, seq, timestamp: seq, data: new Uint8Array(100) }, key))
    }
  })

  it('holds each message once and answers what follows a seq, in order', () => {
    const log = new MessageLog(100, 1e6)
    const k = streamKey(messages[0].sender, 1)
    ;[...messages].reverse().forEach(m => { expect(log.add(k, m)).to.be.true() })
    expect(log.add(k, messages[0])).to.be.false()
    expect(log.size).to.equal(10)
    expect(log.after(k, 7).map(m => m.seq)).to.deep.equal([8, 9, 10])
    expect(log.held()).to.have.lengthOf(1)
    expect(log.held()[0]).to.include({ epoch: 1, lowest: 1, highest: 10 })
  })

  it('evicts the oldest first, by count and by bytes, and says which', () => {
    const evicted: number[] = []
    const byCount = new MessageLog(4, 1e6, m => { evicted.push(m.seq) })
    const k = streamKey(messages[0].sender, 1)
    messages.forEach(m => byCount.add(k, m))
    expect(byCount.size).to.equal(4)
    expect(evicted).to.deep.equal([1, 2, 3, 4, 5, 6])
    expect(byCount.held()[0]).to.include({ lowest: 7, highest: 10 })

    const size = messages[0].envelope.byteLength
    const byBytes = new MessageLog(100, size * 3)
    messages.forEach(m => byBytes.add(k, m))
    expect(byBytes.size).to.equal(3)
    expect(byBytes.bytes).to.be.at.most(size * 3)
    expect(byBytes.has(k, 7)).to.be.false()
    expect(byBytes.has(k, 8)).to.be.true()
  })
})
