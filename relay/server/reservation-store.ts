import { PeerMap } from '@libp2p/peer-collections'
import { RateLimiter } from '@libp2p/utils'
import { MAX_TIMEOUT } from './constants.ts'
import { ipKeyOf } from './utils.ts'
import type { RelayLimit, RelayReservationInfo, ReservationFreeReason } from './index.ts'
import type { Logger, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ReservationStoreInit {
  maxReservations: number
  maxReservationsPerIp: number
  reservationTtl: number
  rateLimit: number
  rateLimitWindow: number

  /**
   * Limits applied to circuits to reserved peers, if any
   */
  limit?: RelayLimit

  log: Logger

  /**
   * Called whenever a reservation is removed, whatever the reason
   */
  onFree(reservation: StoredReservation, reason: ReservationFreeReason): void
}

export interface StoredReservation extends RelayReservationInfo {
  /**
   * The IP address (IPv6: its /64) the reservation counts against, if the
   * address has one
   */
  ip?: string

  /**
   * Expiry timer
   */
  timeout?: ReturnType<typeof setTimeout>
}

export type ReserveRefusal = 'max_reservations' | 'reservations_per_ip' | 'rate_limit'

export type ReserveResult =
  { result: 'created' | 'renewed', reservation: StoredReservation } |
  { result: 'refused', reason: ReserveRefusal }

/**
 * Holds the relay's reservations: capacity, per-IP limits, a per-peer rate
 * limit on new reservations, expiry timers. Freeing on disconnect is driven by the server, which knows
 * the connections.
 */
export class ReservationStore {
  private readonly reservations: PeerMap<StoredReservation>
  private readonly perIp: Map<string, number>
  private readonly rateLimiter: RateLimiter
  private readonly init: ReservationStoreInit

  constructor (init: ReservationStoreInit) {
    this.init = init
    this.reservations = new PeerMap()
    this.perIp = new Map()
    this.rateLimiter = new RateLimiter({
      points: init.rateLimit,
      duration: init.rateLimitWindow / 1000,
      keyPrefix: ''
    })
  }

  get size (): number {
    return this.reservations.size
  }

  get (peer: PeerId): StoredReservation | undefined {
    return this.reservations.get(peer)
  }

  has (peer: PeerId): boolean {
    return this.reservations.has(peer)
  }

  values (): IterableIterator<StoredReservation> {
    return this.reservations.values()
  }

  /**
   * Creates or renews the reservation of `peer`, reached at `addr`
   */
  reserve (peer: PeerId, addr: Multiaddr): ReserveResult {
    let existing = this.reservations.get(peer)

    // one whose expiry timer has not run yet is gone all the same
    if (existing != null && existing.expiry.getTime() <= Date.now()) {
      this.remove(peer, 'expired')
      existing = undefined
    }

    // only new reservations count: renewing a live one is always allowed, so
    // a client with a short TTL is never refused for renewing often
    if (existing == null) {
      try {
        this.rateLimiter.consume(peer.toString())
      } catch {
        return { result: 'refused', reason: 'rate_limit' }
      }
    }

    const ip = ipKeyOf(addr)

    if (existing == null && this.reservations.size >= this.init.maxReservations) {
      return { result: 'refused', reason: 'max_reservations' }
    }

    if (ip != null && existing?.ip !== ip && (this.perIp.get(ip) ?? 0) >= this.init.maxReservationsPerIp) {
      return { result: 'refused', reason: 'reservations_per_ip' }
    }

    const expiry = new Date(Date.now() + this.init.reservationTtl)

    if (existing != null) {
      this.countIp(existing.ip, -1)
      clearTimeout(existing.timeout)
    }

    const reservation: StoredReservation = {
      peer,
      addr,
      ip,
      expiry,
      limit: this.init.limit
    }

    this.countIp(ip, 1)
    this.reservations.set(peer, reservation)
    this.armExpiry(reservation)

    return { result: existing == null ? 'created' : 'renewed', reservation }
  }

  /**
   * Removes the reservation of `peer`, if it still has one
   */
  remove (peer: PeerId, reason: ReservationFreeReason): StoredReservation | undefined {
    const reservation = this.reservations.get(peer)

    if (reservation == null) {
      return
    }

    clearTimeout(reservation.timeout)
    this.reservations.delete(peer)
    this.countIp(reservation.ip, -1)
    this.init.onFree(reservation, reason)

    return reservation
  }

  /**
   * Removes every reservation and forgets the rate limit state
   */
  clear (reason: ReservationFreeReason): void {
    for (const reservation of [...this.reservations.values()]) {
      this.remove(reservation.peer, reason)
    }

    for (const key of [...this.rateLimiter.memoryStorage.storage.keys()]) {
      this.rateLimiter.delete(key)
    }
  }

  private armExpiry (reservation: StoredReservation): void {
    const delay = Math.min(Math.max(reservation.expiry.getTime() - Date.now(), 0), MAX_TIMEOUT)

    reservation.timeout = setTimeout(() => {
      // a renewal replaces the stored object, so only expire this one
      if (this.reservations.get(reservation.peer) === reservation) {
        this.init.log('reservation of %p expired', reservation.peer)
        this.remove(reservation.peer, 'expired')
      }
    }, delay)
  }

  private countIp (ip: string | undefined, delta: number): void {
    if (ip == null) {
      return
    }

    const count = (this.perIp.get(ip) ?? 0) + delta

    if (count > 0) {
      this.perIp.set(ip, count)
    } else {
      this.perIp.delete(ip)
    }
  }
}
