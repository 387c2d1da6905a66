import { PeerMap, PeerSet } from '@libp2p/peer-collections'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { ReplayRefusedError } from '../errors.ts'
import type { PeerId } from '@libp2p/interface'

const minute = 60_000

interface Budget {
  bytes: number
  updated: number
}

/**
 * What a member lets other members take of its log through replays: one
 * replay at a time per member, each request once, and per member a budget
 * of bytes per minute (a token bucket, full at first). Entries are kept for
 * members only (`forget` when one leaves) and nonces only while their
 * request could still be fresh.
 */
export class ReplayGuard {
  private readonly active = new PeerSet()
  /** nonce (with the requester) -> when it may be forgotten */
  private readonly nonces = new Map<string, number>()
  private readonly budgets = new PeerMap<Budget>()
  private readonly bytesPerMinute: number
  private readonly maxNonces: number
  private readonly nonceLifetime: number

  constructor (init: { bytesPerMinute: number, maxNonces: number, nonceLifetime: number }) {
    this.bytesPerMinute = init.bytesPerMinute
    this.maxNonces = init.maxNonces
    this.nonceLifetime = init.nonceLifetime
  }

  /**
   * Starts answering `peer`'s request; call the returned function when done.
   *
   * @throws {ReplayRefusedError} a replay of `peer` is under way, or the nonce was used
   */
  begin (peer: PeerId, nonce: Uint8Array, now = Date.now()): () => void {
    if (this.active.has(peer)) {
      throw new ReplayRefusedError('a replay for this member is under way')
    }

    this.prune(now)
    const key = `${peer}/${uint8ArrayToString(nonce, 'base64')}`

    if (this.nonces.has(key)) {
      throw new ReplayRefusedError('this replay request was answered already')
    }

    if (this.nonces.size >= this.maxNonces) {
      throw new ReplayRefusedError('too many replay requests in the last minute')
    }

    this.nonces.set(key, now + this.nonceLifetime)
    this.active.add(peer)
    return () => { this.active.delete(peer) }
  }

  /** takes `bytes` from `peer`'s budget; false when it has not that much left */
  take (peer: PeerId, bytes: number, now = Date.now()): boolean {
    const budget = this.budgets.get(peer) ?? { bytes: this.bytesPerMinute, updated: now }
    budget.bytes = Math.min(this.bytesPerMinute, budget.bytes + (now - budget.updated) * this.bytesPerMinute / minute)
    budget.updated = now
    this.budgets.set(peer, budget)

    if (budget.bytes < bytes) {
      return false
    }

    budget.bytes -= bytes
    return true
  }

  /** a member left: its entries go */
  forget (peer: PeerId): void {
    this.budgets.delete(peer)
  }

  private prune (now: number): void {
    for (const [key, expires] of this.nonces) {
      if (expires > now) {
        // inserted in time order, so all that follow are later
        break
      }

      this.nonces.delete(key)
    }
  }
}
