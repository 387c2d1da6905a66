import { Liveness } from '../health/liveness.ts'
import { Link } from './link.ts'
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
  /** the stream, attempts, timers and failures of our link with it */
  readonly link = new Link()
  /** `member:joined` was emitted */
  joined = false
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

  /** the stream the room runs on with it (see `Link`) */
  get session (): Session | undefined {
    return this.link.session
  }

  /** it went silent on its stream and has not spoken again since */
  get silent (): boolean {
    return this.link.silent
  }

  /** the link's state; a member that is gone reads as unreachable */
  get state (): MemberState {
    const state = this.link.state
    return state === 'gone' ? 'unreachable' : state
  }

  /** the link's stream, else a recent message of it forwarded by another member */
  get route (): MemberRoute {
    const state = this.link.state

    if (state === 'direct' || state === 'relayed') {
      return state
    }

    return this.forwardedAt != null && Date.now() - this.forwardedAt < this.forwardWindow ? 'forwarded' : 'none'
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

  /** the member left or was dropped: its timers end, and its stream is returned to be closed */
  close (): Session | undefined {
    clearTimeout(this.replayTimer)
    return this.link.close()
  }
}
