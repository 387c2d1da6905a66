import type { RelayCandidate } from './candidates.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * Which relays to hold, given the ones held now and measured candidates.
 *
 * Keeps every held relay that is still measured, unless a candidate not held
 * is faster than it by more than `hysteresis` (0.3 = 30 %) and by at least
 * `minGain` ms: then the slowest held relay is swapped for the fastest such
 * candidate, one swap per call so a noisy measurement moves at most one
 * relay. Free slots are filled with the fastest candidates.
 */
export function chooseRelays (held: PeerId[], candidates: RelayCandidate[], count: number, hysteresis: number, minGain = 0): PeerId[] {
  const measured = candidates
    .filter(c => c.latency != null)
    .sort((a, b) => (a.latency ?? 0) - (b.latency ?? 0))
  const latencyOf = (peer: PeerId): number | undefined => measured.find(c => c.peerId.equals(peer))?.latency
  // held relays without a current measurement stay until they fail
  const keep = held.slice(0, count)
  const others = measured.filter(c => !keep.some(p => p.equals(c.peerId)))

  while (keep.length < count && others.length > 0) {
    keep.push(others.shift()!.peerId)
  }

  const best = others[0]

  if (best?.latency != null && keep.length > 0) {
    const slowest = keep
      .map(peer => ({ peer, latency: latencyOf(peer) }))
      .filter((h): h is { peer: PeerId, latency: number } => h.latency != null)
      .sort((a, b) => b.latency - a.latency)[0]

    if (slowest != null && best.latency < slowest.latency * (1 - hysteresis) && slowest.latency - best.latency >= minGain) {
      keep[keep.findIndex(p => p.equals(slowest.peer))] = best.peerId
    }
  }

  return keep
}
