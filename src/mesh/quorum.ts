import type { RoomImpl } from './room.ts'
import type { AbortOptions } from '@libp2p/interface'

/**
 * Whether a room member reaches `threshold` members, itself included, and
 * the events when that changes.
 */
export class Quorum {
  private readonly room: RoomImpl
  private readonly threshold?: number
  private has: boolean

  constructor (room: RoomImpl, threshold?: number) {
    this.room = room
    this.threshold = threshold
    this.has = this.reachable() >= (threshold ?? 1)
  }

  get hasQuorum (): boolean {
    return this.has
  }

  /** members reached (direct or relayed), this one included */
  reachable (): number {
    return 1 + this.room.all().filter(member => member.session?.open === true && (member.state === 'direct' || member.state === 'relayed')).length
  }

  /** call when a member's state changed */
  update (): void {
    if (this.threshold == null) {
      return
    }

    const reachable = this.reachable()
    const has = reachable >= this.threshold

    if (has === this.has) {
      return
    }

    this.has = has
    this.room.log('quorum %s: %d of %d reached', has ? 'regained' : 'lost', reachable, this.threshold)
    this.room.safeDispatchEvent(has ? 'quorum:regained' : 'quorum:lost', { detail: { reachable, threshold: this.threshold } })
  }

  async wait (options: AbortOptions = {}): Promise<void> {
    if (this.has) {
      return
    }

    await new Promise<void>((resolve, reject) => {
      const signals = [options.signal, this.room.signal].filter(signal => signal != null)
      const done = (): void => {
        this.room.removeEventListener('quorum:regained', onRegained)
        signals.forEach(signal => { signal.removeEventListener('abort', onAbort) })
      }
      const onRegained = (): void => { done(); resolve() }
      const onAbort = (): void => {
        done()
        reject(signals.find(signal => signal.aborted)?.reason)
      }

      if (signals.some(signal => signal.aborted)) {
        onAbort()
        return
      }

      this.room.addEventListener('quorum:regained', onRegained)
      signals.forEach(signal => { signal.addEventListener('abort', onAbort) })
    })
  }
}
