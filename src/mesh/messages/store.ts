import { Key } from 'interface-datastore'
import { decodeStoredRoomBatch } from '../../envelope/batch.ts'
import type { SignedRoomBatch, SignedRoomMessage } from '../../envelope/batch.ts'
import type { Logger } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/**
 * What a room left in the datastore: this member's epoch and last seq, and
 * its log.
 */
export interface StoredRoom {
  epoch?: number
  seq: number
  messages: SignedRoomMessage[]
  /** per sender and epoch (`streamKey`), the last seq delivered to the app */
  delivered: Map<string, number>
}

/**
 * A room's log and this member's counters in the node's datastore, under
 * `/relaymesh/rooms/<room CID>/`, so a member that restarts keeps numbering
 * its messages where it stopped and still holds what it had.
 */
export class RoomStore {
  private readonly datastore: Datastore
  private readonly prefix: string
  private readonly log: Logger
  private readonly onError: (err: Error) => void
  /** writes in the order they were asked for */
  private writing: Promise<void> = Promise.resolve()
  /** delivered seqs not yet written, by stream: one write per stream at a time */
  private readonly deliveredPending = new Map<string, number>()
  private deliveredWriting?: Promise<void>

  /**
   * `onError` hears of every failed write (disk full, quota): the room goes
   * on in memory. Writes a caller awaits also reject with the error.
   */
  constructor (datastore: Datastore, roomCid: string, log: Logger, onError: (err: Error) => void) {
    this.datastore = datastore
    this.prefix = `/relaymesh/rooms/${roomCid}`
    this.log = log
    this.onError = onError
  }

  async load (): Promise<StoredRoom> {
    let epoch: number | undefined
    let seq = 0

    try {
      const self = JSON.parse(new TextDecoder().decode(await this.datastore.get(new Key(`${this.prefix}/self`))))
      epoch = Number(self.epoch)
      seq = Number(self.seq)
    } catch {}

    const messages: SignedRoomMessage[] = []

    for await (const { value } of this.datastore.query({ prefix: `${this.prefix}/log/` })) {
      try {
        messages.push(...decodeStoredRoomBatch(value).messages)
      } catch (err: any) {
        this.log('skipping a stored batch - %e', err)
      }
    }

    messages.sort((a, b) => a.timestamp - b.timestamp || a.seq - b.seq)
    const delivered = new Map<string, number>()

    for await (const { key, value } of this.datastore.query({ prefix: `${this.prefix}/delivered/` })) {
      delivered.set(decodeURIComponent(key.baseNamespace()), Number(new TextDecoder().decode(value)))
    }

    return { epoch, seq, messages, delivered }
  }

  /**
   * Records that messages up to `seq` of a stream were delivered to the app.
   * Written after delivery and coalesced (the latest per stream wins): after
   * a crash, the messages delivered since the last write are delivered again.
   */
  saveDelivered (stream: string, seq: number): void {
    this.deliveredPending.set(stream, seq)
    this.writeDelivered()
  }

  private writeDelivered (): void {
    if (this.deliveredWriting != null || this.deliveredPending.size === 0) {
      return
    }

    // not behind the queue of messages: each delivered one is stored already
    const batch = [...this.deliveredPending]
    this.deliveredPending.clear()
    this.deliveredWriting = Promise.all(batch.map(async ([key, value]) => this.datastore.put(new Key(`${this.prefix}/delivered/${encodeURIComponent(key)}`), new TextEncoder().encode(String(value)))))
      .then(() => {}, (err: Error) => {
        this.failed(err)
      })
      .finally(() => {
        this.deliveredWriting = undefined
        this.writeDelivered()
      })
  }

  /** resolves once every write asked for so far is done */
  async flush (): Promise<void> {
    await this.writing

    while (this.deliveredWriting != null) {
      await this.deliveredWriting
    }
  }

  /** records this member's epoch and last seq; resolves once written */
  async saveSelf (epoch: number, seq: number): Promise<void> {
    await this.enqueue(async () => {
      await this.datastore.put(new Key(`${this.prefix}/self`), new TextEncoder().encode(JSON.stringify({ epoch, seq })))
    })
  }

  async put (batch: SignedRoomBatch): Promise<void> {
    await this.enqueue(async () => {
      await this.datastore.put(this.key(batch), batch.bytes)
    })
  }

  async delete (batch: SignedRoomBatch): Promise<void> {
    await this.enqueue(async () => {
      await this.datastore.delete(this.key(batch))
    })
  }

  private key (batch: SignedRoomBatch): Key {
    return new Key(`${this.prefix}/log/${batch.sender}/${batch.epoch}/${batch.firstSeq.toString().padStart(16, '0')}`)
  }

  private async enqueue (write: () => Promise<void>): Promise<void> {
    const next = this.writing.then(write)
    this.writing = next.catch((err: Error) => { this.failed(err) })
    return next
  }

  private failed (err: Error): void {
    this.log.error('writing to the datastore failed - %e', err)
    this.onError(err)
  }
}
