import { Liveness } from '../health/liveness.ts'
import { Outbox } from './messages/outbox.ts'
import type { MemberInfo, MemberRoute } from './index.ts'
import type { Session } from './session.ts'
import type { MemberRecord } from '../envelope/record.ts'
import type { MemberState } from '../health/score.ts'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * What a room keeps about one other member.
 */
export class Member {
  readonly peerId: PeerId
  readonly liveness: Liveness
  /** its newest accepted record */
  record?: MemberRecord
  /** when the room first heard of it, ms since the epoch */
  readonly addedAt = Date.now()
  /** addresses from the DHT, until a record arrives */
  providerAddrs: Multiaddr[] = []
  /** the stream the room runs on with it */
  session?: Session
  /** it went silent on its stream and has not spoken again since */
  silent = false
  /** `member:joined` was emitted */
  joined = false
  /** a stream it opened to us is mid-handshake */
  handshaking = false
  /** a connection attempt is under way */
  connecting?: Promise<void>
  /** the last of our dials to it, which the next one waits for */
  dialing?: Promise<void>
  /** a WebRTC upgrade is under way */
  upgrading?: Promise<void>
  /** a first connection attempt was made or scheduled */
  contacted = false
  /** failed connection attempts since the last success */
  failures = 0
  retryTimer?: ReturnType<typeof setTimeout>
  /** set while we give the pair's dialer time to dial us (see `RoomImpl.connect`) */
  dialerWaitTimer?: ReturnType<typeof setTimeout>
  upgradeTimer?: ReturnType<typeof setTimeout>
  pruneTimer?: ReturnType<typeof setTimeout>
  /** closes the stream of an unreachable member that stays silent */
  abandonTimer?: ReturnType<typeof setTimeout>
  /** records it sent in the current minute, and when that minute began */
  recordsInWindow = 0
  recordWindowStart = 0
  /** our last heartbeat's number */
  heartbeatSeq = 0n
  /** the score last reported in `member:updated` */
  reportedScore = 0
  /** the route last reported in `member:updated` */
  reportedRoute: MemberRoute = 'none'
  /** room messages waiting to be written to its stream */
  readonly outbox = new Outbox()
  /** a replay from it is under way; another is wanted after it */
  replaying?: Promise<void>
  replayAgain = false
  /** we asked it for a replay since its stream began */
  askedSinceAdopt = false
  /** when we last asked it for messages its heartbeat said it wrote and we lack */
  lostAskedAt?: number
  /** when we last asked it after another member's replay failed */
  replayAskedAt?: number
  /** asks it again after a replay its budget cut short */
  replayTimer?: ReturnType<typeof setTimeout>
  /** when a message of its last reached us through another member while we had no stream with it */
  forwardedAt?: number
  /** how long such a message counts as a route, ms */
  private readonly forwardWindow: number

  constructor (peerId: PeerId, heartbeatInterval: number, missedHeartbeats: number, forwardWindow: number) {
    this.peerId = peerId
    this.liveness = new Liveness({ heartbeatInterval, missedHeartbeats })
    this.forwardWindow = forwardWindow
  }

  /**
   * Derived from the stream and its silence, never stored, so `state` and
   * `route` cannot disagree: unreachable while silent, else the kind of the
   * stream it has, else connecting.
   */
  get state (): MemberState {
    if (this.silent) {
      return 'unreachable'
    }

    if (this.session == null) {
      return 'connecting'
    }

    return this.session.direct ? 'direct' : 'relayed'
  }

  get route (): MemberRoute {
    if (this.session == null || this.silent) {
      return this.forwardedAt != null && Date.now() - this.forwardedAt < this.forwardWindow ? 'forwarded' : 'none'
    }

    return this.session.direct ? 'direct' : 'relayed'
  }

  /** its signed addresses; those the DHT gave while its record has none */
  get multiaddrs (): Multiaddr[] {
    const signed = this.record?.multiaddrs ?? []
    return signed.length > 0 ? signed : this.providerAddrs
  }

  /** listed in `room.members`: it has signed a record or we have heard from it */
  get known (): boolean {
    return this.record != null || this.joined
  }

  info (now: number = Date.now()): MemberInfo {
    return {
      peerId: this.peerId,
      state: this.state,
      route: this.route,
      rtt: this.liveness.rtt,
      loss: this.liveness.loss(now),
      score: this.liveness.score(this.state, now),
      lastSeen: this.liveness.lastHeard,
      multiaddrs: [...this.multiaddrs]
    }
  }

  clearTimers (): void {
    clearTimeout(this.retryTimer)
    clearTimeout(this.dialerWaitTimer)
    clearTimeout(this.upgradeTimer)
    clearTimeout(this.pruneTimer)
    clearTimeout(this.abandonTimer)
    clearTimeout(this.replayTimer)
  }
}
