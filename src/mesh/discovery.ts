import { PeerSet } from '@libp2p/peer-collections'
import { anySignal } from 'any-signal'
import { backoff } from '../health/backoff.ts'
import { sleep } from '../health/sleep.ts'
import { DISCOVERY_FOLLOW_UP, DISCOVERY_RETRY } from './constants.ts'
import type { RoomImpl } from './room.ts'
import type { PeerInfo } from '@libp2p/interface'

/**
 * Finds a room's members in relaymesh's DHT: provides the room's CID and
 * looks up its providers, soon and often while the room is empty, every
 * `discoveryInterval` after.
 */
export class RoomDiscovery {
  private readonly room: RoomImpl
  private timer?: ReturnType<typeof setTimeout>
  private delay = DISCOVERY_RETRY
  private provideRun = 0
  private discovering?: Promise<void>
  /** the next look-up is the one `DISCOVERY_FOLLOW_UP` after a provide */
  private followUp = false

  constructor (room: RoomImpl) {
    this.room = room
  }

  start (): void {
    this.provide()
    void this.discover()
  }

  stop (): void {
    clearTimeout(this.timer)
  }

  /**
   * Provides the room's CID, retrying until it reaches a DHT peer. kad-dht
   * sends the addresses the node has at that moment, and DHT servers drop
   * records without any, so it waits for a first (relayed) address; the room
   * calls it again whenever our addresses change.
   */
  provide (): void {
    void this.provideLoop(++this.provideRun)
  }

  private async provideLoop (run: number): Promise<void> {
    const { components } = this.room.ctx

    for (let attempt = 1; !this.room.isClosed && run === this.provideRun; attempt++) {
      if (components.addressManager.getAddresses().length === 0) {
        await sleep(DISCOVERY_RETRY / 4, this.room.signal)
        attempt--
        continue
      }

      const signal = anySignal([this.room.signal, AbortSignal.timeout(30_000)])

      try {
        await components.contentRouting.provide(this.room.cid, { signal })
        this.room.log('provided %c', this.room.cid)
        // the DHT is reachable now: look for the others at once, and again
        // soon for those that provide a moment after us
        this.followUp = true
        this.discoverNow()
        return
      } catch (err: any) {
        this.room.log('providing %c failed - %e', this.room.cid, err)
      } finally {
        signal.clear()
      }

      await sleep(backoff(attempt, 1000, 30_000) + 500, this.room.signal)
    }
  }

  private discoverNow (): void {
    if (this.discovering == null) {
      clearTimeout(this.timer)
      void this.discover()
    }
  }

  private async discover (): Promise<void> {
    if (this.room.isClosed || this.discovering != null) {
      return
    }

    this.discovering = this.lookUp()
    await this.discovering
    this.discovering = undefined

    if (this.room.isClosed) {
      return
    }

    const { discoveryInterval } = this.room.ctx.init
    this.delay = this.room.alone ? Math.min(this.delay * 2, discoveryInterval) : discoveryInterval
    const next = this.followUp ? Math.min(DISCOVERY_FOLLOW_UP, this.delay) : this.delay
    this.followUp = false
    this.timer = setTimeout(() => { void this.discover() }, next)
  }

  /**
   * Members we dial are taken as the look-up finds them; the others (each
   * of which dials us) once it ends, so that each then knows we pass our
   * record on to a member it may not reach (see `Links.waitsForDialer`).
   */
  private async lookUp (): Promise<void> {
    const signal = anySignal([this.room.signal, AbortSignal.timeout(this.room.ctx.init.dialTimeout * 2)])
    const seen = new PeerSet()
    const theyDial: PeerInfo[] = []

    try {
      for await (const provider of this.room.ctx.components.contentRouting.findProviders(this.room.cid, { signal })) {
        this.room.log.trace('found provider %p %a', provider.id, provider.multiaddrs)

        if (this.room.isClosed) {
          break
        }

        if (seen.has(provider.id) || seen.size >= this.room.ctx.init.maxMembers) {
          continue
        }

        seen.add(provider.id)

        if (this.room.dialer.isPairDialerOf(provider.id)) {
          this.room.found(provider)
        } else {
          theyDial.push(provider)
        }
      }
    } catch (err: any) {
      this.room.log('looking up room members failed - %e', err)
    } finally {
      signal.clear()
    }

    if (!this.room.isClosed) {
      theyDial.forEach(provider => { this.room.found(provider) })
    }
  }
}
