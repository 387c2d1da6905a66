import { PeerMap } from '@libp2p/peer-collections'
import { backoff } from '../health/backoff.ts'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Where a candidate relay came from.
 */
export type CandidateSource = 'bootstrap' | 'dht'

/**
 * A relay the node knows of.
 */
export interface RelayCandidate {
  peerId: PeerId
  /** addresses to dial it on */
  addrs: Multiaddr[]
  source: CandidateSource
  /** median ping round trip of the last measurement, in ms */
  latency?: number
  /** when it was last measured, ms since the epoch */
  measuredAt?: number
  /** consecutive failures (dial, ping, reservation) */
  failures: number
  /** not to be tried again before this time, ms since the epoch */
  retryAt: number
  /** why it last failed */
  lastError?: string
}

/**
 * The relays a node knows of, with their measurements and failures.
 */
export class CandidateTable {
  private readonly candidates = new PeerMap<RelayCandidate>()
  private readonly maxCandidates: number

  constructor (maxCandidates: number) {
    this.maxCandidates = maxCandidates
  }

  /**
   * Adds a candidate or merges new addresses into a known one. Returns false
   * when the table is full.
   */
  add (peerId: PeerId, addrs: Multiaddr[], source: CandidateSource): boolean {
    const known = this.candidates.get(peerId)
    const merged = new Map((known?.addrs ?? []).map(ma => [ma.toString(), ma]))
    addrs.forEach(ma => merged.set(ma.toString(), ma))

    if (known != null) {
      known.addrs = [...merged.values()]
      return true
    }

    if (this.candidates.size >= this.maxCandidates) {
      return false
    }

    this.candidates.set(peerId, { peerId, addrs: [...merged.values()], source, failures: 0, retryAt: 0 })
    return true
  }

  get (peerId: PeerId): RelayCandidate | undefined {
    return this.candidates.get(peerId)
  }

  has (peerId: PeerId): boolean {
    return this.candidates.has(peerId)
  }

  measured (peerId: PeerId, latency: number): void {
    const candidate = this.candidates.get(peerId)

    if (candidate != null) {
      candidate.latency = latency
      candidate.measuredAt = Date.now()
      candidate.failures = 0
      candidate.retryAt = 0
      candidate.lastError = undefined
    }
  }

  failed (peerId: PeerId, err: Error, initial: number, max: number): void {
    const candidate = this.candidates.get(peerId)

    if (candidate != null) {
      candidate.failures++
      // unmeasured again: it is measured anew once its backoff has passed
      candidate.latency = undefined
      candidate.measuredAt = undefined
      candidate.lastError = `${err.name}: ${err.message}`
      candidate.retryAt = Date.now() + initial + backoff(candidate.failures, initial, max)
    }
  }

  /** candidates that may be tried now */
  usable (now = Date.now()): RelayCandidate[] {
    return [...this.candidates.values()].filter(c => c.retryAt <= now)
  }

  all (): RelayCandidate[] {
    return [...this.candidates.values()]
  }
}
