import type { SignedRoomBatch, SignedRoomMessage } from '../../envelope/batch.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * What a log holds of one sender's epoch.
 */
export interface HeldRange {
  sender: PeerId
  epoch: number
  lowest: number
  highest: number
}

interface Stream {
  sender: PeerId
  epoch: number
  /** the highest seq added (kept after eviction: evicted seqs are the lowest) */
  highest: number
  /** by seq, in the order added */
  messages: Map<number, SignedRoomMessage>
}

/** one sender's share of the log, over all its epochs */
interface Share {
  /** its streams' keys, oldest epoch first */
  streams: string[]
  count: number
  bytes: number
}

/**
 * Bytes a message counts for in the log: its share of its batch.
 */
export function messageSize (message: SignedRoomMessage): number {
  return Math.ceil(message.batch.bytes.byteLength / message.batch.messages.length)
}

/**
 * The key of one sender's epoch.
 */
export function streamKey (sender: PeerId | string, epoch: number): string {
  return `${sender.toString()}/${epoch}`
}

/**
 * A room's messages, bounded by count and bytes. Each sender has a fair
 * share: when the log is over a bound, the sender holding the most (count or
 * bytes, whichever is over) loses its oldest message, so a flooding sender
 * evicts its own messages first. Replies to replay requests come from here.
 */
export class MessageLog {
  private readonly maxMessages: number
  private readonly maxBytes: number
  private readonly streams = new Map<string, Stream>()
  private readonly shares = new Map<string, Share>()
  private totalBytes = 0
  private count = 0

  /** per batch, how many of its messages the log holds */
  private readonly batches = new Map<SignedRoomBatch, number>()
  private readonly onEvict?: (batch: SignedRoomBatch) => void

  /**
   * `onEvict` is called with a batch once the last of its messages the log
   * held is evicted.
   */
  constructor (maxMessages: number, maxBytes: number, onEvict?: (batch: SignedRoomBatch) => void) {
    this.maxMessages = maxMessages
    this.maxBytes = maxBytes
    this.onEvict = onEvict
  }

  get size (): number {
    return this.count
  }

  get bytes (): number {
    return this.totalBytes
  }

  has (key: string, seq: number): boolean {
    return this.streams.get(key)?.messages.has(seq) === true
  }

  get (key: string, seq: number): SignedRoomMessage | undefined {
    return this.streams.get(key)?.messages.get(seq)
  }

  /** adds a message; returns false when it is already held */
  add (key: string, message: SignedRoomMessage): boolean {
    let stream = this.streams.get(key)
    const sender = message.sender.toString()

    if (stream == null) {
      stream = { sender: message.sender, epoch: message.epoch, highest: 0, messages: new Map() }
      this.streams.set(key, stream)
      const share = this.shares.get(sender) ?? { streams: [], count: 0, bytes: 0 }
      share.streams.push(key)
      share.streams.sort((a, b) => (this.streams.get(a)?.epoch ?? 0) - (this.streams.get(b)?.epoch ?? 0))
      this.shares.set(sender, share)
    }

    if (stream.messages.has(message.seq)) {
      return false
    }

    const share = this.shares.get(sender)!
    const size = messageSize(message)
    stream.messages.set(message.seq, message)
    stream.highest = Math.max(stream.highest, message.seq)
    this.batches.set(message.batch, (this.batches.get(message.batch) ?? 0) + 1)
    share.count++
    share.bytes += size
    this.totalBytes += size
    this.count++
    this.evict()
    return true
  }

  /** the highest seq held of one sender's epoch (0: none) */
  highest (key: string): number {
    return this.streams.get(key)?.highest ?? 0
  }

  /** what the log holds, per sender and epoch, less `except`'s */
  held (except?: PeerId): HeldRange[] {
    const ranges: HeldRange[] = []

    for (const stream of this.streams.values()) {
      if (except?.equals(stream.sender) === true) {
        continue
      }

      let lowest = Infinity
      let highest = 0

      for (const seq of stream.messages.keys()) {
        lowest = Math.min(lowest, seq)
        highest = Math.max(highest, seq)
      }

      ranges.push({ sender: stream.sender, epoch: stream.epoch, lowest, highest })
    }

    return ranges
  }

  /** the messages of one sender's epoch after `seq`, oldest first */
  after (key: string, seq: number): SignedRoomMessage[] {
    const stream = this.streams.get(key)

    if (stream == null) {
      return []
    }

    return [...stream.messages.values()].filter(message => message.seq > seq).sort((a, b) => a.seq - b.seq)
  }

  /**
   * The batches holding one sender's messages after `seq`, oldest first,
   * each once (a replay sends batches whole).
   */
  batchesAfter (key: string, seq: number): SignedRoomBatch[] {
    const batches = new Set<SignedRoomBatch>()

    for (const message of this.after(key, seq)) {
      batches.add(message.batch)
    }

    return [...batches]
  }

  /** every stream's key */
  keys (): string[] {
    return [...this.streams.keys()]
  }

  private evict (): void {
    while (this.count > this.maxMessages || this.totalBytes > this.maxBytes) {
      const byBytes = this.totalBytes > this.maxBytes
      let largest: [string, Share] | undefined

      for (const entry of this.shares) {
        if (largest == null || (byBytes ? entry[1].bytes > largest[1].bytes : entry[1].count > largest[1].count)) {
          largest = entry
        }
      }

      if (largest == null) {
        return
      }

      this.evictOldest(largest[0], largest[1])
    }
  }

  /** drops a sender's oldest message: the first added of its oldest epoch */
  private evictOldest (sender: string, share: Share): void {
    const key = share.streams[0]
    const stream = this.streams.get(key)

    if (stream == null || stream.messages.size === 0) {
      this.dropStream(sender, share, key)
      return
    }

    // the first added (messages arrive in seq order but for replays)
    const oldest: SignedRoomMessage = stream.messages.values().next().value!
    const size = messageSize(oldest)
    stream.messages.delete(oldest.seq)
    share.count--
    share.bytes -= size
    this.totalBytes -= size
    this.count--

    if (stream.messages.size === 0) {
      this.dropStream(sender, share, key)
    }

    const left = (this.batches.get(oldest.batch) ?? 1) - 1

    if (left > 0) {
      this.batches.set(oldest.batch, left)
    } else {
      this.batches.delete(oldest.batch)
      this.onEvict?.(oldest.batch)
    }
  }

  private dropStream (sender: string, share: Share, key: string): void {
    this.streams.delete(key)
    share.streams = share.streams.filter(k => k !== key)

    if (share.streams.length === 0) {
      this.shares.delete(sender)
    }
  }
}
