import { TimeoutError } from '@libp2p/interface'
import { LOWER_STREAM_TIMEOUT, MAX_LOWER_STREAMS } from './constants.ts'
import type { Session } from './session.ts'

/**
 * Where a link with a member is. `connecting`: no stream (none yet, or the
 * last one ended); a dial, a wait for the pair's dialer or a retry may be
 * under way. `relayed` / `direct`: the room runs on a stream over a relayed
 * or a direct connection. `unreachable`: the member went silent; its stream,
 * if it still has one, is kept a while in case it answers again. `gone`: the
 * member left or was dropped; nothing is dialed again.
 *
 * `connecting` → `relayed` → `direct` is the way up; any of them can become
 * `unreachable` and come back, and every state ends in `gone`.
 */
export type LinkState = 'connecting' | 'relayed' | 'direct' | 'unreachable' | 'gone'

/**
 * The one owner of everything a room holds to reach one member: the stream
 * the room runs on, the attempts under way, their timers and the failure
 * count. Its state is derived from the stream and the member's silence, never
 * stored, so the member's `state` and `route` (both read from it) cannot
 * disagree. Only `Links` and `LinkDialer` change it: the stream, the silence
 * and the failure count through the methods below, the attempts under way
 * and their timers (`Links` its connects and reconnects, `LinkDialer` its
 * dials and upgrades) through the fields; the room closes it when the member
 * is gone. Everything else reads it.
 */
export class Link {
  private current?: Session
  /** streams that ranked below `current`, read until the member closes them */
  private readonly lower = new Set<Session>()
  private quiet = false
  private closed = false
  private failureCount = 0
  /** a stream the member opened to us is mid-handshake */
  handshaking = false
  /** a first connection attempt was made or scheduled */
  contacted = false
  /** a connection attempt is under way */
  connecting?: Promise<void>
  /** the last of our dials to the member, which the next one waits for */
  dialing?: Promise<void>
  /** a WebRTC upgrade is under way */
  upgrading?: Promise<void>
  /** the next connection attempt after a failure */
  retryTimer?: ReturnType<typeof setTimeout>
  /** set while we give the pair's dialer time to dial us (see `Links.connect`) */
  dialerWaitTimer?: ReturnType<typeof setTimeout>
  /** the next round of WebRTC attempts on a relayed link */
  upgradeTimer?: ReturnType<typeof setTimeout>
  /** closes the relayed connection once the link is direct */
  pruneTimer?: ReturnType<typeof setTimeout>
  /** closes the stream of an unreachable member that stays silent */
  private abandonTimer?: ReturnType<typeof setTimeout>

  get state (): LinkState {
    if (this.closed) {
      return 'gone'
    }

    if (this.quiet) {
      return 'unreachable'
    }

    if (this.current == null) {
      return 'connecting'
    }

    return this.current.direct ? 'direct' : 'relayed'
  }

  /** the stream the room runs on with the member */
  get session (): Session | undefined {
    return this.current
  }

  /** the member went silent on its stream and has not spoken again since */
  get silent (): boolean {
    return this.quiet
  }

  /** failed connection attempts since the last stream */
  get failures (): number {
    return this.failureCount
  }

  /**
   * `session` carries the link from now on (the caller has closed the one it
   * replaces): the member is heard from again, the failure count and the
   * pending retry end.
   */
  adopt (session: Session): void {
    this.current = session
    this.quiet = false
    this.failureCount = 0
    clearTimeout(this.retryTimer)
    clearTimeout(this.abandonTimer)
    clearTimeout(this.dialerWaitTimer)
    this.dialerWaitTimer = undefined
  }

  /**
   * The member went silent: unreachable until it speaks again. `abandon` is
   * called after `abandonAfter` ms if it is still silent on the same stream.
   */
  silence (abandonAfter: number, abandon: () => void): void {
    this.quiet = true
    clearTimeout(this.abandonTimer)

    if (this.current != null) {
      this.abandonTimer = setTimeout(abandon, abandonAfter)
    }
  }

  /** an unreachable member spoke again on its stream */
  recovered (): void {
    this.quiet = false
    clearTimeout(this.abandonTimer)
  }

  /**
   * Lets go of the stream (it ended, or the member is abandoned) and returns
   * it; with `session`, only if that is the link's stream.
   */
  detach (session?: Session): Session | undefined {
    const current = this.current

    if (current == null || (session != null && session !== current)) {
      return undefined
    }

    this.current = undefined
    clearTimeout(this.abandonTimer)
    return current
  }

  /**
   * Nothing is under way to reach the member: no stream, no attempt, no
   * stream of its own mid-handshake, and no first contact still waiting for
   * the pair's dialer or its first dial (one was made and failed, or none)
   */
  get idle (): boolean {
    return this.current == null && this.connecting == null && !this.handshaking && !(this.contacted && this.failureCount === 0)
  }

  /** a connection attempt failed: returns how many have since the last stream */
  failed (): number {
    return ++this.failureCount
  }

  /**
   * Takes `session`, which ranked below the current stream and was closed at
   * our end, to be read until the member closes its end. Aborts it instead
   * when `MAX_LOWER_STREAMS` are read already, or later when the member has
   * not closed it within `LOWER_STREAM_TIMEOUT`. Returns whether to read it.
   */
  keepLower (session: Session): boolean {
    if (this.closed || this.lower.size >= MAX_LOWER_STREAMS) {
      session.abort(new TimeoutError('too many streams that ranked lower are open'))
      return false
    }

    if (session.stream.status !== 'open') {
      // it ended already (the member reset it): its 'close' has been, and it
      // takes no place
      return true
    }

    this.lower.add(session)
    const timer = setTimeout(() => {
      session.abort(new TimeoutError(`a stream that ranked lower was not closed within ${LOWER_STREAM_TIMEOUT} ms`))
    }, LOWER_STREAM_TIMEOUT)
    session.stream.addEventListener('close', () => {
      clearTimeout(timer)
      this.lower.delete(session)
    }, { once: true })
    return true
  }

  /** the member left or was dropped: timers end, streams that ranked lower are aborted, and the stream is returned to be closed */
  close (): Session | undefined {
    this.closed = true
    this.clearTimers()

    for (const session of this.lower) {
      session.abort(new Error('the member is gone'))
    }

    return this.detach()
  }

  /** ends every timer of the link (a gone link's attempts stop at their next step) */
  private clearTimers (): void {
    clearTimeout(this.retryTimer)
    clearTimeout(this.dialerWaitTimer)
    clearTimeout(this.upgradeTimer)
    clearTimeout(this.pruneTimer)
    clearTimeout(this.abandonTimer)
  }
}
