import { PeerSet } from '@libp2p/peer-collections'
import type { SignedRoomMessage } from '../../envelope/batch.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * One sender's epoch as this member receives it.
 */
export interface Inbound {
  sender: PeerId
  epoch: number
  /** `streamKey(sender, epoch)` */
  key: string
  /** the next seq to deliver */
  next: number
  /** the sender's last seq as its heartbeats tell */
  sent: number
  /** members that answered a replay without holding `next` */
  notHeldBy: PeerSet
  /** when we last asked a member for the hole before a held message */
  askedAt?: number
  /**
   * Seqs the sender skipped after crashes (batches' signed `skippedFrom`,
   * the latest `MAX_SKIPPED_RANGES`): they may never have been sent, so when
   * no member holds them that is no gap
   */
  skipped: SeqRange[]
}

/**
 * Seqs `from` to `to`, both included.
 */
export interface SeqRange {
  from: number
  to: number
}

/** the most skipped ranges kept per sender-epoch */
export const MAX_SKIPPED_RANGES = 4

/**
 * Notes the range a batch says its sender skipped after a crash, if any: a
 * signed `skippedFrom` on the batch's first message.
 */
export function noteSkipped (inbound: Inbound, message: SignedRoomMessage): void {
  const { skippedFrom, firstSeq } = message.batch

  if (skippedFrom == null || message.seq !== firstSeq || inbound.skipped.some(r => r.from === skippedFrom && r.to === firstSeq - 1)) {
    return
  }

  inbound.skipped.push({ from: skippedFrom, to: firstSeq - 1 })

  if (inbound.skipped.length > MAX_SKIPPED_RANGES) {
    inbound.skipped.shift()
  }
}

/**
 * The parts of `from`..`to` outside every range of `skipped`, in order.
 */
export function outside (from: number, to: number, skipped: SeqRange[]): SeqRange[] {
  let parts: SeqRange[] = from <= to ? [{ from, to }] : []

  for (const range of skipped) {
    parts = parts.flatMap(part => [
      { from: part.from, to: Math.min(part.to, range.from - 1) },
      { from: Math.max(part.from, range.to + 1), to: part.to }
    ].filter(p => p.from <= p.to))
  }

  return parts
}

interface Sender {
  peerId: PeerId
  epochs: Map<number, Inbound>
  /** epochs up to this one are no longer followed: their messages are refused */
  floor: number
  lastActive: number
}

/**
 * What this member follows of other members' messages: per sender, at most
 * `maxEpochs` epochs, and at most `maxSenders` senders. Entries are made only
 * for epochs seen in signed messages. A sender's oldest epoch makes room for
 * a newer one, and its messages are refused from then on; a sender that is
 * not a member and was heard from least recently makes room for a new one,
 * and its epochs so far are refused from then on too (so nothing is
 * delivered twice). Both are reported through `dropped`, which says what
 * was missing.
 */
export class InboundTracker {
  private readonly senders = new Map<string, Sender>()
  /**
   * Senders made room for: the newest epoch of theirs we followed, at or
   * below which their messages are refused (never delivered twice); the
   * `4 * maxSenders` most recent
   */
  private readonly forgotten = new Map<string, number>()
  private readonly maxEpochs: number
  private readonly maxSenders: number
  private readonly isMember: (sender: PeerId) => boolean
  private readonly dropped: (inbound: Inbound) => void

  constructor (init: { maxEpochs: number, maxSenders: number, isMember(sender: PeerId): boolean, dropped(inbound: Inbound): void }) {
    this.maxEpochs = init.maxEpochs
    this.maxSenders = init.maxSenders
    this.isMember = init.isMember
    this.dropped = init.dropped
  }

  /** the entry of a sender's epoch, if followed */
  get (sender: PeerId, epoch: number): Inbound | undefined {
    return this.senders.get(sender.toString())?.epochs.get(epoch)
  }

  /** whether we follow any epoch of this sender (we took a message of it) */
  follows (sender: PeerId): boolean {
    return this.senders.has(sender.toString())
  }

  /** whether a message of this sender's epoch and seq would be news: a cheap check before any signature work */
  wants (sender: PeerId, epoch: number, seq: number): boolean {
    const state = this.senders.get(sender.toString())

    if (state == null) {
      return epoch > (this.forgotten.get(sender.toString()) ?? -1)
    }

    if (epoch <= state.floor) {
      return false
    }

    const inbound = state.epochs.get(epoch)

    if (inbound != null) {
      return seq >= inbound.next
    }

    return state.epochs.size < this.maxEpochs || epoch > Math.min(...state.epochs.keys())
  }

  /**
   * The entry for a sender's epoch seen in a signed message, made if needed;
   * undefined when the epoch is one no longer followed (or older than every
   * followed one while `maxEpochs` are).
   */
  open (sender: PeerId, epoch: number, now = Date.now()): Inbound | undefined {
    const id = sender.toString()
    let state = this.senders.get(id)

    if (state == null) {
      const floor = this.forgotten.get(id) ?? -1

      if (epoch <= floor) {
        return undefined
      }

      this.makeRoom()
      state = { peerId: sender, epochs: new Map(), floor, lastActive: now }
      this.senders.set(id, state)
    }

    state.lastActive = now

    if (epoch <= state.floor) {
      return undefined
    }

    let inbound = state.epochs.get(epoch)

    if (inbound != null) {
      return inbound
    }

    if (state.epochs.size >= this.maxEpochs) {
      const oldest = Math.min(...state.epochs.keys())

      if (epoch < oldest) {
        return undefined
      }

      const old = state.epochs.get(oldest)
      state.epochs.delete(oldest)
      state.floor = Math.max(state.floor, oldest)

      if (old != null) {
        this.dropped(old)
      }
    }

    inbound = { sender, epoch, key: `${id}/${epoch}`, next: 1, sent: 0, notHeldBy: new PeerSet(), skipped: [] }
    state.epochs.set(epoch, inbound)
    return inbound
  }

  /** every followed sender's epoch */
  * values (): Generator<Inbound> {
    for (const state of this.senders.values()) {
      yield * state.epochs.values()
    }
  }

  get size (): number {
    let size = 0

    for (const state of this.senders.values()) {
      size += state.epochs.size
    }

    return size
  }

  private makeRoom (): void {
    if (this.senders.size < this.maxSenders) {
      return
    }

    let victim: [string, Sender] | undefined

    // the least recently heard sender that is not a member, else any
    for (const entry of this.senders) {
      if (!this.isMember(entry[1].peerId) && (victim == null || entry[1].lastActive < victim[1].lastActive)) {
        victim = entry
      }
    }

    victim ??= [...this.senders].reduce((a, b) => a[1].lastActive <= b[1].lastActive ? a : b)
    this.senders.delete(victim[0])
    victim[1].epochs.forEach(inbound => { this.dropped(inbound) })
    this.forgotten.delete(victim[0])
    this.forgotten.set(victim[0], Math.max(victim[1].floor, ...victim[1].epochs.keys()))

    if (this.forgotten.size > 4 * this.maxSenders) {
      this.forgotten.delete(this.forgotten.keys().next().value!)
    }
  }
}
