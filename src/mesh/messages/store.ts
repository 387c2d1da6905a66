import { Key } from 'interface-datastore'
import { decodeStoredRoomBatch } from '../../envelope/batch.ts'
import type { SignedRoomBatch, SignedRoomMessage } from '../../envelope/batch.ts'
import type { RoomCipher } from '../../envelope/cipher.ts'
import type { Logger } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/**
 * What a room left in the datastore: this member's epoch and numbering, and
 * its log.
 */
export interface StoredRoom {
  epoch?: number
  /** seqs up to this one may have been used (see `RoomStore.saveSelf`) */
  reserved: number
  /** the last seq known to be sent when the numbering was last written */
  sent: number
  messages: SignedRoomMessage[]
  /** per sender and epoch (`streamKey`), the last seq delivered to the app */
  delivered: Map<string, number>
}

interface Write {
  key: Key
  /** none: a delete */
  value?: Uint8Array
}

/**
 * A room's log and this member's numbering in the node's datastore, under
 * `/relaymesh/rooms/<room CID>/`, so a member that restarts keeps numbering
 * its messages where it stopped and still holds what it had.
 *
 * Writes are group-committed: those asked for while one commit is under way
 * go together in the next `datastore.batch()`, so a busy room costs one
 * datastore round trip per commit, not per message, and nobody waits for a
 * write on the send path (see `Messaging`).
 */
export class RoomStore {
  private readonly datastore: Datastore
  private readonly prefix: string
  private readonly log: Logger
  private readonly onError: (err: Error) => void
  /** writes for the next commit, by key: the last one asked for a key wins */
  private readonly next = new Map<string, Write>()
  private waiting: Array<{ resolve(): void, reject(err: Error): void }> = []
  private committing?: Promise<void>

  /** a private room's: stored batches hold ciphertext */
  private readonly cipher?: RoomCipher

  /**
   * `onError` hears of every failed commit (disk full, quota): the room goes
   * on in memory. Writes a caller awaits also reject with the error.
   */
  constructor (datastore: Datastore, roomCid: string, log: Logger, onError: (err: Error) => void, cipher?: RoomCipher) {
    this.datastore = datastore
    this.cipher = cipher
    this.prefix = `/relaymesh/rooms/${roomCid}`
    this.log = log
    this.onError = onError
  }

  async load (): Promise<StoredRoom> {
    let epoch: number | undefined
    let reserved = 0
    let sent = 0

    try {
      const self = JSON.parse(new TextDecoder().decode(await this.datastore.get(new Key(`${this.prefix}/self`))))
      epoch = Number(self.epoch)
      // `seq`: as written before seqs were reserved in blocks
      reserved = Number(self.reserved ?? self.seq)
      sent = Number(self.sent ?? self.seq)

      if (![epoch, reserved, sent].every(Number.isSafeInteger)) {
        epoch = undefined
        reserved = sent = 0
      }
    } catch {
      // nothing stored yet (or unreadable): a new numbering
    }

    const messages: SignedRoomMessage[] = []

    for await (const { value } of this.datastore.query({ prefix: `${this.prefix}/log/` })) {
      try {
        messages.push(...decodeStoredRoomBatch(value, this.cipher).messages)
      } catch (err: any) {
        this.log('skipping a stored batch - %e', err)
      }
    }

    messages.sort((a, b) => a.timestamp - b.timestamp || a.seq - b.seq)
    const delivered = new Map<string, number>()

    for await (const { key, value } of this.datastore.query({ prefix: `${this.prefix}/delivered/` })) {
      delivered.set(decodeURIComponent(key.baseNamespace()), Number(new TextDecoder().decode(value)))
    }

    return { epoch, reserved, sent, messages, delivered }
  }

  /**
   * Records that messages up to `seq` of a stream were delivered to the app.
   * Written after delivery, with the next commit (the latest per stream
   * wins): after a crash, the messages delivered since the last commit are
   * delivered again.
   */
  saveDelivered (stream: string, seq: number): void {
    this.write(new Key(`${this.prefix}/delivered/${encodeURIComponent(stream)}`), new TextEncoder().encode(String(seq))).catch(() => {})
  }

  /** resolves once every write asked for so far is committed (or failed) */
  async flush (): Promise<void> {
    while (this.committing != null) {
      await this.committing
    }
  }

  /**
   * Records this member's epoch, that seqs up to `reserved` may be used, and
   * the last seq known to be sent; resolves once committed.
   */
  async saveSelf (epoch: number, reserved: number, sent: number): Promise<void> {
    await this.write(new Key(`${this.prefix}/self`), new TextEncoder().encode(JSON.stringify({ epoch, reserved, sent })))
  }

  /** resolves once committed */
  async put (batch: SignedRoomBatch): Promise<void> {
    await this.write(this.key(batch), batch.bytes)
  }

  /** resolves once committed */
  async delete (batch: SignedRoomBatch): Promise<void> {
    await this.write(this.key(batch))
  }

  private key (batch: SignedRoomBatch): Key {
    return new Key(`${this.prefix}/log/${batch.sender}/${batch.epoch}/${batch.firstSeq.toString().padStart(16, '0')}`)
  }

  private async write (key: Key, value?: Uint8Array): Promise<void> {
    this.next.set(key.toString(), { key, value })

    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      this.commit()
    })
  }

  /** commits what was asked for, unless a commit is under way (it commits the rest when done) */
  private commit (): void {
    if (this.committing != null || this.next.size === 0) {
      return
    }

    const writes = [...this.next.values()]
    const waiting = this.waiting
    this.next.clear()
    this.waiting = []

    this.committing = (async () => {
      const batch = this.datastore.batch()

      for (const { key, value } of writes) {
        if (value == null) {
          batch.delete(key)
        } else {
          batch.put(key, value)
        }
      }

      await batch.commit()
    })()
      .then(() => {
        waiting.forEach(w => { w.resolve() })
      }, (err: Error) => {
        this.failed(err)
        waiting.forEach(w => { w.reject(err) })
      })
      .finally(() => {
        this.committing = undefined
        this.commit()
      })
  }

  private failed (err: Error): void {
    this.log.error('writing to the datastore failed - %e', err)
    this.onError(err)
  }
}
