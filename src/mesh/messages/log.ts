import type { SignedRoomMessage } from '../envelope/message.ts'
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
  messages: Map<number, SignedRoomMessage>
}

/**
 * The key of one sender's epoch.
 */
export function streamKey (sender: PeerId | string, epoch: number): string {
  return `${sender.toString()}/${epoch}`
}

/**
 * A room's messages, bounded by count and bytes: the oldest are evicted
 * first. Replies to replay requests come from here.
 */
export class MessageLog {
  private readonly maxMessages: number
  private readonly maxBytes: number
  private readonly streams = new Map<string, Stream>()
  /** insertion order, for eviction */
  private readonly order: Array<[string, number]> = []
  private orderStart = 0
  private totalBytes = 0
  private count = 0

  private readonly onEvict?: (message: SignedRoomMessage) => void

  constructor (maxMessages: number, maxBytes: number, onEvict?: (message: SignedRoomMessage) => void) {
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

    if (stream == null) {
      stream = { sender: message.sender, epoch: message.epoch, messages: new Map() }
      this.streams.set(key, stream)
    }

    if (stream.messages.has(message.seq)) {
      return false
    }

    stream.messages.set(message.seq, message)
    this.order.push([key, message.seq])
    this.totalBytes += message.envelope.byteLength
    this.count++
    this.evict()
    return true
  }

  /** what the log holds, per sender and epoch */
  held (): HeldRange[] {
    const ranges: HeldRange[] = []

    for (const stream of this.streams.values()) {
      if (stream.messages.size === 0) {
        continue
      }

      const seqs = [...stream.messages.keys()]
      ranges.push({ sender: stream.sender, epoch: stream.epoch, lowest: Math.min(...seqs), highest: Math.max(...seqs) })
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

  /** every stream's key */
  keys (): string[] {
    return [...this.streams.keys()]
  }

  private evict (): void {
    while ((this.count > this.maxMessages || this.totalBytes > this.maxBytes) && this.orderStart < this.order.length) {
      const [key, seq] = this.order[this.orderStart++]
      const stream = this.streams.get(key)
      const message = stream?.messages.get(seq)

      if (stream == null || message == null) {
        continue
      }

      stream.messages.delete(seq)
      this.totalBytes -= message.envelope.byteLength
      this.count--
      this.onEvict?.(message)
    }

    if (this.orderStart > 1024 && this.orderStart > this.order.length / 2) {
      this.order.splice(0, this.orderStart)
      this.orderStart = 0
    }
  }
}
