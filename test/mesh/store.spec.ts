import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { sealRoomBatch } from '../../src/envelope/batch.ts'
import { Signer } from '../../src/envelope/keys.ts'
import { RoomStore } from '../../src/mesh/messages/store.ts'
import type { SignedRoomBatch } from '../../src/envelope/batch.ts'
import type { Batch } from 'interface-datastore'

/** a memory datastore that counts commits, and fails them while `failing` */
class CountingDatastore extends MemoryDatastore {
  commits = 0
  failing = false

  batch (): Batch {
    const batch = super.batch()

    return {
      put: (key, value) => { batch.put(key, value) },
      delete: (key) => { batch.delete(key) },
      commit: async (options) => {
        this.commits++

        if (this.failing) {
          throw new Error('disk full')
        }

        await batch.commit(options)
      }
    }
  }
}

describe('room store', () => {
  const log = defaultLogger().forComponent('test')
  const batches: SignedRoomBatch[] = []

  before(async () => {
    const key = await generateKeyPair('Ed25519')

    for (let seq = 1; seq <= 100; seq++) {
      batches.push(await sealRoomBatch({ sender: peerIdFromPrivateKey(key), room: new Uint8Array(32), epoch: 1, firstSeq: seq, timestamp: seq, data: [new Uint8Array([seq])] }, new Signer(key)))
    }
  })

  it('commits the writes asked for while a commit is under way together, and reads them back', async () => {
    const datastore = new CountingDatastore()
    const store = new RoomStore(datastore, 'room', log, () => {})

    await Promise.all([
      ...batches.map(async batch => store.put(batch)),
      store.saveSelf(1, 1124, 100)
    ])
    store.saveDelivered('stream', 7)
    await store.flush()

    // the first write goes at once, the rest with the next commit, the delivered seq with the last
    expect(datastore.commits).to.be.within(2, 3)
    const stored = await store.load()
    expect(stored.messages.map(m => m.seq)).to.deep.equal(batches.map(b => b.firstSeq))
    expect(stored).to.include({ epoch: 1, reserved: 1124, sent: 100 })
    expect(stored.delivered.get('stream')).to.equal(7)
  })

  it('a failed commit rejects its writes and is reported once; later writes go on', async () => {
    const datastore = new CountingDatastore()
    const errors: Error[] = []
    const store = new RoomStore(datastore, 'room', log, err => { errors.push(err) })
    await store.put(batches[0])

    datastore.failing = true
    const results = await Promise.allSettled(batches.slice(1, 10).map(async batch => store.put(batch)))
    expect(results.every(result => result.status === 'rejected' && result.reason.message === 'disk full')).to.be.true()
    expect(errors.map(err => err.message)).to.deep.equal(['disk full', 'disk full'])

    datastore.failing = false
    await store.put(batches[10])
    await store.delete(batches[0])
    expect((await store.load()).messages.map(m => m.seq)).to.deep.equal([11])
  })

  it('reads a numbering written before seqs were reserved in blocks', async () => {
    const datastore = new MemoryDatastore()
    await datastore.put(new Key('/relaymesh/rooms/room/self'), new TextEncoder().encode(JSON.stringify({ epoch: 5, seq: 42 })))

    expect(await new RoomStore(datastore, 'room', log, () => {}).load()).to.include({ epoch: 5, reserved: 42, sent: 42 })
  })
})
