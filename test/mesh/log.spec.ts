import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { sealRoomBatch } from '../../src/envelope/batch.ts'
import { Signer } from '../../src/envelope/keys.ts'
import { MessageLog, messageSize, streamKey } from '../../src/mesh/messages/log.ts'
import type { SignedRoomBatch, SignedRoomMessage } from '../../src/envelope/batch.ts'
import type { PrivateKey } from '@libp2p/interface'

const ROOM = new Uint8Array(32)

async function seal (key: PrivateKey, seq: number, size: number): Promise<SignedRoomMessage> {
  const batch = await sealRoomBatch({ sender: peerIdFromPrivateKey(key), room: ROOM, epoch: 1, firstSeq: seq, timestamp: seq, data: [new Uint8Array(size)] }, new Signer(key))
  return batch.messages[0]
}

describe('room message log', () => {
  let key: PrivateKey
  const messages: SignedRoomMessage[] = []

  before(async () => {
    key = await generateKeyPair('Ed25519')

    for (let seq = 1; seq <= 10; seq++) {
      messages.push(await seal(key, seq, 100))
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

  it('evicts the oldest first, by count and by bytes, and says which batches went', () => {
    const evicted: number[] = []
    const byCount = new MessageLog(4, 1e6, (batch: SignedRoomBatch) => { evicted.push(batch.firstSeq) })
    const k = streamKey(messages[0].sender, 1)
    messages.forEach(m => byCount.add(k, m))
    expect(byCount.size).to.equal(4)
    expect(evicted).to.deep.equal([1, 2, 3, 4, 5, 6])
    expect(byCount.held()[0]).to.include({ lowest: 7, highest: 10 })

    const size = messageSize(messages[0])
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
      const flood = await seal(flooder, seq, 1)
      log.add(streamKey(flood.sender, 1), flood)
    }

    // the honest sender keeps all ten; the flooder holds what is left, its newest
    expect(log.size).to.equal(20)
    expect(log.after(k, 0).map(m => m.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(log.held(messages[0].sender)).to.have.lengthOf(1)
    expect(log.held(messages[0].sender)[0]).to.include({ lowest: 91, highest: 100 })
  })

  it('keeps a batch while any of its messages is held, and hands out whole batches', async () => {
    const batch = await sealRoomBatch({ sender: peerIdFromPrivateKey(key), room: ROOM, epoch: 2, firstSeq: 1, timestamp: 1, data: [1, 2, 3].map(n => new Uint8Array(n)) }, new Signer(key))
    const evicted: SignedRoomBatch[] = []
    const log = new MessageLog(2, 1e6, (b: SignedRoomBatch) => { evicted.push(b) })
    const k = streamKey(batch.sender, 2)
    batch.messages.forEach(m => log.add(k, m))
    // one of three evicted: the batch stays, and a replay of what follows seq 2 sends it whole
    expect(log.size).to.equal(2)
    expect(evicted).to.be.empty()
    expect(log.batchesAfter(k, 2)).to.deep.equal([batch])
    expect(log.batchesAfter(k, 3)).to.be.empty()

    const later = await sealRoomBatch({ sender: peerIdFromPrivateKey(key), room: ROOM, epoch: 2, firstSeq: 4, timestamp: 2, data: [new Uint8Array(1), new Uint8Array(1)] }, new Signer(key))
    later.messages.forEach(m => log.add(k, m))
    expect(evicted).to.deep.equal([batch])
    expect(log.batchesAfter(k, 0)).to.deep.equal([later])
  })
})
