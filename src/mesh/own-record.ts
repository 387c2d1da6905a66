import { initialSeq, sealMemberRecord } from '../envelope/record.ts'
import type { RoomImpl } from './room.ts'
import type { MemberRecord } from '../envelope/record.ts'

/**
 * This member's own signed record in a room: signed at join, re-signed every
 * `recordRefreshInterval` and whenever the node's addresses change, each time
 * with a higher sequence number, and sent to every member. A listener that
 * starts listening (a reservation giving the `/p2p-circuit/webrtc` address)
 * is acted on at once: libp2p's `self:peer:update` comes a second later.
 */
export class OwnRecord {
  private readonly room: RoomImpl
  private seq = 0n
  private timer?: ReturnType<typeof setTimeout>
  private record?: MemberRecord
  private refreshing: Promise<void> = Promise.resolve()
  /** the addresses the latest re-signing was started for */
  private signedAddrs?: string

  constructor (room: RoomImpl) {
    this.room = room
    this.onSelfUpdate = this.onSelfUpdate.bind(this)
  }

  get current (): MemberRecord {
    if (this.record == null) {
      throw new Error('the room has not started')
    }

    return this.record
  }

  async start (): Promise<void> {
    this.seq = initialSeq()
    this.record = await this.seal(false)
    this.room.ctx.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
    this.room.ctx.components.events.addEventListener('transport:listening', this.onSelfUpdate)
    this.schedule()
  }

  stop (): void {
    clearTimeout(this.timer)
    this.room.ctx.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
    this.room.ctx.components.events.removeEventListener('transport:listening', this.onSelfUpdate)
  }

  /** a record saying that we leave */
  async leaving (): Promise<MemberRecord> {
    this.seq += 1n
    return this.seal(true)
  }

  private async seal (leaving: boolean): Promise<MemberRecord> {
    const multiaddrs = this.room.ctx.components.addressManager.getAddresses()
    return sealMemberRecord({ room: this.room.tag, seq: this.seq, multiaddrs, leaving }, this.room.ctx.components.privateKey)
  }

  /** re-signs one after another, so the newest record is the one kept */
  private async refresh (): Promise<void> {
    this.refreshing = this.refreshing.catch(() => {}).then(async () => {
      if (this.room.isClosed) {
        return
      }

      this.seq += 1n
      this.record = await this.seal(false)
      this.room.broadcast(this.record)
      this.schedule()
    })

    await this.refreshing
  }

  private schedule (): void {
    clearTimeout(this.timer)

    if (!this.room.isClosed) {
      this.timer = setTimeout(() => {
        this.refresh().catch((err: Error) => { this.room.log.error('could not re-sign our record - %e', err) })
      }, this.room.ctx.init.recordRefreshInterval)
    }
  }

  private onSelfUpdate (): void {
    const before = this.signedAddrs ?? this.record?.multiaddrs.map(ma => ma.toString()).sort().join()
    const after = this.room.ctx.components.addressManager.getAddresses().map(ma => ma.toString()).sort().join()

    if (before !== after) {
      // the WebRTC listener reports listening from within the circuit
      // listener's event: one re-signing for both
      this.signedAddrs = after
      this.refresh().catch((err: Error) => { this.room.log.error('could not re-sign our record - %e', err) })
      this.room.addressesChanged()
    }
  }
}
