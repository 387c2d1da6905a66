import { generateKeyPair } from '@libp2p/crypto/keys'
import { expect } from 'aegir/chai'
import { sealRoomMessage } from '../../src/envelope/message.ts'
import { MessageLog, streamKey } from '../../src/mesh/messages/log.ts'
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

  it('gives each sender a fair share: a flooding sender evicts its own messages first', async () => {
    const flooder = await generateKeyPair('Ed25519')
    const log = new MessageLog(20, 1e6)
    const k = streamKey(messages[0].sender, 1)
    messages.forEach(m => log.add(k, m))

    for (let seq = 1; seq <= 100; seq++) {
      const flood = await sealRoomMessage({ room: 'r', epoch: 1, seq, timestamp: seq, data: new Uint8Array(1) }, flooder)
      log.add(streamKey(flood.sender, 1), flood)
    }

    // the honest sender keeps all ten; the flooder holds what is left, its newest
    expect(log.size).to.equal(20)
    expect(log.after(k, 0).map(m => m.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(log.held(messages[0].sender)).to.have.lengthOf(1)
    expect(log.held(messages[0].sender)[0]).to.include({ lowest: 91, highest: 100 })
  })
})
