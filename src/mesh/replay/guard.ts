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
 * of bytes per minute (a token bucket, full at first). Each member's nonces
 * are its own table (`maxNonces` while their requests could still be
 * fresh), so one member asking over and over shuts out only itself. Entries
 * are kept for members only (`forget` when one leaves).
 */
export class ReplayGuard {
  private readonly active = new PeerSet()
  /** per member: nonce -> when it may be forgotten, in time order */
  private readonly nonces = new PeerMap<Map<string, number>>()
  private readonly budgets = new PeerMap<Budget>()
  private readonly bytesPerMinute: number
  private readonly maxNonces: number
  private readonly nonceLifetime: number

  /**
   * `nonceLifetime` must cover how long a request is accepted (its age limit
   * and the clock skew allowed), or a request could be answered twice.
   */
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
    const nonces = this.nonces.get(peer) ?? new Map<string, number>()
    this.nonces.set(peer, nonces)
    const key = uint8ArrayToString(nonce, 'base64')

    if (nonces.has(key)) {
      throw new ReplayRefusedError('this replay request was answered already')
    }

    if (nonces.size >= this.maxNonces) {
      throw new ReplayRefusedError('too many replay requests from this member in the last minutes')
    }

    nonces.set(key, now + this.nonceLifetime)
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

  /** a member left: its budget goes (its nonces stay until they expire) */
  forget (peer: PeerId): void {
    this.budgets.delete(peer)
  }

  /** forgets expired nonces, and members with none left */
  private prune (now: number): void {
    for (const [peer, nonces] of this.nonces) {
      for (const [key, expires] of nonces) {
        if (expires > now) {
          // inserted in time order, so all that follow are later
          break
        }

        nonces.delete(key)
      }

      if (nonces.size === 0) {
        this.nonces.delete(peer)
      }
    }
  }
}
