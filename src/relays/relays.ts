import { KEEP_ALIVE, serviceCapabilities, serviceDependencies, setMaxListeners } from '@libp2p/interface'
import { PeerMap } from '@libp2p/peer-collections'
import { peerIdFromString } from '@libp2p/peer-id'
import { repeatingTask } from '@libp2p/utils'
import { multiaddr, CODE_P2P } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { CandidateTable } from './candidates.ts'
import * as c from './constants.ts'
import { RETRY_SLACK, resolveRelaysInit } from './constants.ts'
import { findRelays } from './discovery.ts'
import { InvalidRelayError } from './errors.ts'
import { connectToRelay, directConnection, medianRoundTrip } from './probe.ts'
import { fetchRelayIceServers, iceServerHosts } from './relay-info.ts'
import { listenThroughRelay, requestReservation } from './reserve.ts'
import { chooseRelays } from './selection.ts'
import type { RelayCandidate } from './candidates.ts'
import type { ResolvedRelaysInit } from './constants.ts'
import type { RelaysComponents, RelaysEvents, RelaysInit, Relays as RelaysInterface, SelectedRelay } from './index.ts'
import type { Connection, Logger, PeerId, Startable } from '@libp2p/interface'
import type { RepeatingTask } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

interface Held extends SelectedRelay {
  renewTimer?: ReturnType<typeof setTimeout>
  renewFailures: number
}

/**
 * Finds relays (bootstrap list + DHT provider records), measures them, keeps
 * reservations on the fastest `relayCount`, renews them and fails over.
 */
export class RelaysService extends TypedEventEmitter<RelaysEvents> implements RelaysInterface, Startable {
  readonly [Symbol.toStringTag] = '@relaymesh/relays'
  readonly [serviceCapabilities] = ['@relaymesh/relays']
  readonly [serviceDependencies] = ['@libp2p/identify', '@libp2p/ping', '@libp2p/circuit-relay-v2-transport']

  private readonly components: RelaysComponents
  private readonly init: ResolvedRelaysInit
  private readonly bootstrap: Multiaddr[]
  private readonly log: Logger
  private readonly table: CandidateTable
  private readonly held = new PeerMap<Held>()
  private readonly reserving = new PeerMap<Promise<void>>()
  private shutdown = new AbortController()
  private task?: RepeatingTask
  private discoveryTimer?: ReturnType<typeof setTimeout>
  private retryTimer?: ReturnType<typeof setTimeout>
  private discoveryDelay = c.DEFAULT_DISCOVERY_RETRY
  private evaluating?: Promise<void>
  private evaluateAgain = false
  private started = false

  constructor (components: RelaysComponents, init: RelaysInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('relaymesh:relays')
    this.bootstrap = (init.bootstrap ?? []).map(ma => multiaddr(ma.toString()))
    this.init = resolveRelaysInit(init)
    this.table = new CandidateTable(this.init.maxCandidates)
    this.onConnectionClose = this.onConnectionClose.bind(this)
  }

  get selected (): SelectedRelay[] {
    return [...this.held.values()].map(({ renewTimer, renewFailures, ...relay }) => ({ ...relay }))
  }

  get iceServers (): RTCIceServer[] {
    const seen = new Set<string>()

    return [...this.held.values()].flatMap(held => held.iceServers ?? []).filter(server => {
      const key = JSON.stringify(server)
      return !seen.has(key) && seen.add(key) != null
    })
  }

  get candidates (): RelayCandidate[] {
    return this.table.all().map(candidate => ({ ...candidate }))
  }

  start (): void {
    this.shutdown = new AbortController()
    setMaxListeners(Infinity, this.shutdown.signal)
    this.started = true
  }

  afterStart (): void {
    for (const addr of this.bootstrap) {
      const peer = addr.getComponents().findLast(c => c.code === CODE_P2P)?.value

      if (peer == null) {
        this.log.error('bootstrap relay %a has no /p2p/<peer id>: ignored', addr)
        continue
      }

      this.table.add(peerIdFromString(peer), [addr], 'bootstrap')
    }

    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.task = repeatingTask(async () => {
      await this.refresh()
    }, this.init.reevaluateInterval, { runImmediately: true })
    this.task.start()
  }

  /**
   * While fewer usable candidates are known than `relayCount` plus one spare,
   * the DHT is asked again soon (from 2 s, doubling up to
   * `reevaluateInterval`), so relays that appear after start are found and a
   * measured spare is ready for failover.
   */
  private scheduleDiscovery (): void {
    clearTimeout(this.discoveryTimer)

    if (!this.started || !this.init.discovery) {
      return
    }

    const measured = this.table.usable().filter(c => c.latency != null).length

    if (measured > this.init.relayCount) {
      this.discoveryDelay = c.DEFAULT_DISCOVERY_RETRY
      return
    }

    this.discoveryTimer = setTimeout(() => {
      this.discoveryDelay = Math.min(this.discoveryDelay * 2, this.init.reevaluateInterval)
      void this.discover()
    }, this.discoveryDelay)
  }

  stop (): void {
    this.started = false
    this.shutdown.abort()
    this.task?.stop()
    clearTimeout(this.discoveryTimer)
    clearTimeout(this.retryTimer)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)

    for (const held of this.held.values()) {
      clearTimeout(held.renewTimer)
    }

    this.held.clear()
  }

  /**
   * Rediscovers, re-measures and re-selects now.
   */
  async refresh (): Promise<void> {
    await Promise.all([
      this.discover(),
      this.evaluate()
    ])
  }

  /**
   * Looks up providers of the relay namespace in the DHT and adds them as
   * candidates; new candidates trigger an evaluation.
   */
  private async discover (): Promise<void> {
    if (!this.init.discovery || !this.started) {
      return
    }

    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.init.discoveryTimeout)])
    let added = 0

    try {
      for await (const { peerId, addrs } of findRelays(this.components, this.init.namespace, this.log, signal)) {
        if (!this.table.has(peerId) && this.table.add(peerId, addrs, 'dht')) {
          added++
          this.log('discovered relay %p in the DHT', peerId)
          this.safeDispatchEvent('relays:candidate-discovered', { detail: { peerId, addrs } })
        }
      }
    } catch (err: any) {
      if (!this.shutdown.signal.aborted) {
        this.log.error('relay discovery failed - %e', err)
      }
    }

    if (added > 0) {
      await this.evaluate()
    }

    this.scheduleDiscovery()
  }

  /**
   * Measures usable candidates, then reserves on the best `relayCount`.
   * Single-flight: a call while one runs schedules one more run.
   */
  private async evaluate (): Promise<void> {
    if (this.evaluating != null) {
      this.evaluateAgain = true
      return this.evaluating
    }

    this.evaluating = (async () => {
      do {
        this.evaluateAgain = false
        await this.evaluateOnce().catch(err => { this.log.error('evaluation failed - %e', err) })
      } while (this.evaluateAgain && this.started)
    })().finally(() => {
      this.evaluating = undefined
    })

    return this.evaluating
  }

  private async evaluateOnce (): Promise<void> {
    if (!this.started) {
      return
    }

    const now = Date.now()
    const stale = this.table.usable(now).filter(c => c.measuredAt == null || now - c.measuredAt >= this.init.reevaluateInterval / 2)
    this.log.trace('evaluating: %d candidates, %d to measure, %d held', this.table.all().length, stale.length, this.held.size)
    await Promise.all(stale.map(async candidate => this.measure(candidate)))

    await this.select()
    this.scheduleRetry()
  }

  /**
   * Chooses relays from what is measured and reserves on the new ones. Each
   * new one is tried in order until `relayCount` are held.
   */
  private async select (): Promise<void> {
    if (!this.started) {
      return
    }

    const heldIds = [...this.held.values()].map(held => held.peerId)
    const usable = this.table.usable()
    const chosen = chooseRelays(heldIds, usable, this.init.relayCount, this.init.hysteresis, this.init.minGain)

    // make before break: reserve on the newly chosen relays, then release the replaced ones
    const replaced = heldIds.filter(p => !chosen.some(ch => ch.equals(p)))

    // try the chosen ones, then the rest in latency order, until enough are held
    const fallback = usable
      .filter(c => c.latency != null && !chosen.some(ch => ch.equals(c.peerId)) && !replaced.some(p => p.equals(c.peerId)))
      .sort((a, b) => (a.latency ?? 0) - (b.latency ?? 0))
      .map(c => c.peerId)

    for (const peer of [...chosen, ...fallback]) {
      if (this.held.size - replaced.length >= this.init.relayCount || !this.started) {
        break
      }

      if (!this.held.has(peer)) {
        await this.reserve(peer)
      }
    }

    for (const peer of replaced) {
      if (this.held.size > this.init.relayCount) {
        await this.release(peer, 'replaced')
      }
    }
  }

  /**
   * Dials a candidate and pings it `probeSamples` times; the median is its latency.
   */
  private async measure (candidate: RelayCandidate): Promise<void> {
    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.init.probeTimeout)])

    try {
      const connection = await connectToRelay(this.components, candidate.peerId, candidate.addrs, signal)
      const { median: latency, samples } = await medianRoundTrip(this.components, connection, this.init.probeSamples, signal)
      this.table.measured(candidate.peerId, latency)
      this.log('relay %p: %d ms (samples %o)', candidate.peerId, latency, samples)
      this.safeDispatchEvent('relays:candidate-measured', { detail: { peerId: candidate.peerId, latency } })
    } catch (err: any) {
      this.markDown(candidate.peerId, err)
    }
  }

  private markDown (peer: PeerId, cause: unknown): void {
    // a WebSocket dial rejects with an ErrorEvent, not an Error
    const detail = [(cause as any)?.type, (cause as any)?.message].filter(part => typeof part === 'string' && part !== '').join(' ')
    const err = cause instanceof Error ? cause : new InvalidRelayError(`dial failed (${detail === '' ? String(cause) : detail})`)
    this.table.failed(peer, err, this.init.backoffInitial, this.init.backoffMax)
    const candidate = this.table.get(peer)
    this.log.error('relay %p is down (failure %d, retry in %d ms) - %e', peer, candidate?.failures, (candidate?.retryAt ?? 0) - Date.now(), err)
    this.safeDispatchEvent('relays:candidate-down', { detail: { peerId: peer, error: err } })

    this.scheduleRetry()
  }

  /**
   * Evaluates again when the earliest backoff ends. Timers may fire a
   * millisecond before `Date.now()` reaches their deadline, hence the slack;
   * every evaluation re-arms it, so no candidate is left waiting forever.
   */
  private scheduleRetry (): void {
    clearTimeout(this.retryTimer)
    const now = Date.now()
    const next = Math.min(...this.table.all().map(c => c.retryAt).filter(at => at > now))

    if (this.started && Number.isFinite(next)) {
      this.retryTimer = setTimeout(() => { void this.evaluate() }, next - now + RETRY_SLACK)
    }
  }

  /**
   * Listens on `<relay>/p2p-circuit` (the circuit relay transport makes the
   * reservation and publishes our relayed and WebRTC addresses), then learns
   * the reservation's expiry by renewing it at once, and schedules renewals.
   */
  private async reserve (peer: PeerId): Promise<void> {
    const pending = this.reserving.get(peer)

    if (pending != null) {
      return pending
    }

    const attempt = (async () => {
      const candidate = this.table.get(peer)

      if (candidate == null) {
        return
      }

      const start = Date.now()
      const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.init.probeTimeout)])

      try {
        const connection = await connectToRelay(this.components, peer, candidate.addrs, signal)
        const relayAddr = connection.remoteAddr.getComponents().some(c => c.code === CODE_P2P)
          ? connection.remoteAddr
          : connection.remoteAddr.encapsulate(`/p2p/${peer}`)
        await listenThroughRelay(this.components, relayAddr.encapsulate('/p2p-circuit'), this.shutdown.signal, this.log)
        const reservation = await requestReservation(connection, { signal })

        if (!this.started) {
          return
        }

        const held: Held = {
          peerId: peer,
          addr: relayAddr,
          latency: candidate.latency,
          expiry: reservation.expiry,
          limit: reservation.limit,
          since: Date.now(),
          renewals: 0,
          renewFailures: 0
        }
        this.held.set(peer, held)
        this.scheduleRenewal(held)
        this.log('reserved on relay %p in %d ms, expires in %d ms', peer, Date.now() - start, reservation.expiry - Date.now())
        this.safeDispatchEvent('relays:relay-selected', { detail: this.selected.find(s => s.peerId.equals(peer))! })
        void this.askIceServers(held, connection)
      } catch (err: any) {
        this.log.error('reservation on relay %p failed after %d ms - %e', peer, Date.now() - start, err)
        this.markDown(peer, err)
      }
    })().finally(() => {
      this.reserving.delete(peer)
    })

    this.reserving.set(peer, attempt)
    return attempt
  }

  /**
   * Asks a relay just reserved on (or renewed) for its ICE servers (`iceServers` option);
   * WebRTC connections use them while the relay is held. A stock relay does
   * not speak the protocol: nothing to use.
   */
  private async askIceServers (held: Held, connection: Connection): Promise<void> {
    if (this.init.iceServers === false) {
      return
    }

    const peerId = held.peerId
    const hosts = this.init.iceServers === 'any-host' ? undefined : iceServerHosts(connection.remoteAddr, held.peerId, this.bootstrap)

    try {
      const iceServers = await fetchRelayIceServers(connection, hosts, { signal: AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.init.probeTimeout)]) })

      if (this.held.get(peerId) !== held) {
        return
      }

      held.iceServers = iceServers
      this.log('relay %p handed out %d ICE servers: %s', peerId, iceServers.length, iceServers.flatMap(s => s.urls).join(' '))
      this.safeDispatchEvent('relays:ice-servers-received', { detail: { peerId, iceServers } })
    } catch (err: any) {
      if (err.name === 'UnsupportedProtocolError' || this.shutdown.signal.aborted) {
        this.log.trace('relay %p hands out no ICE servers - %e', peerId, err)
        return
      }

      if (this.held.get(peerId) === held) {
        held.iceServers = undefined
      }

      this.log.error('refused the ICE servers of relay %p - %e', peerId, err)
      this.safeDispatchEvent('relays:ice-servers-refused', { detail: { peerId, error: err } })
    }
  }

  /**
   * Renews at `renewAt` of the remaining lifetime, whatever the TTL; a failed
   * renewal is retried (`renewAttempts` in all, spread over what is left),
   * then the relay is replaced.
   */
  private scheduleRenewal (held: Held): void {
    clearTimeout(held.renewTimer)
    const remaining = held.expiry - Date.now()
    const delay = held.renewFailures === 0
      ? remaining * this.init.renewAt
      : remaining / (this.init.renewAttempts - held.renewFailures + 1)

    held.renewTimer = setTimeout(() => {
      void this.renew(held)
    }, Math.max(c.MIN_RENEW_DELAY, Math.min(delay, 2 ** 31 - 1)))
  }

  private async renew (held: Held): Promise<void> {
    if (!this.started || this.held.get(held.peerId) !== held) {
      return
    }

    const connection = directConnection(this.components, held.peerId)

    try {
      if (connection == null) {
        throw new InvalidRelayError('no connection to the relay')
      }

      const reservation = await requestReservation(connection, { signal: AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.init.probeTimeout)]) })
      held.expiry = reservation.expiry
      held.limit = reservation.limit
      held.renewals++
      held.renewFailures = 0
      // keep the connection to the relay open for as long as the reservation lasts
      await this.components.peerStore.merge(held.peerId, { tags: { [KEEP_ALIVE]: { value: 1, ttl: reservation.expiry - Date.now() } } })
      this.log.trace('renewed reservation on %p, expires in %d ms', held.peerId, reservation.expiry - Date.now())
      this.safeDispatchEvent('relays:reservation-renewed', { detail: { peerId: held.peerId, expiry: held.expiry } })
      this.scheduleRenewal(held)
      // TURN credentials the relay makes expire: fresh ones with each renewal
      void this.askIceServers(held, connection)
    } catch (err: any) {
      held.renewFailures++
      this.log.error('renewing reservation on %p failed (%d of %d) - %e', held.peerId, held.renewFailures, this.init.renewAttempts, err)

      if (held.renewFailures >= this.init.renewAttempts || held.expiry <= Date.now()) {
        await this.lose(held.peerId, 'renewal-failed', err)
      } else {
        this.scheduleRenewal(held)
      }
    }
  }

  private onConnectionClose (evt: CustomEvent<Connection>): void {
    const peer = evt.detail.remotePeer

    if (!this.held.has(peer)) {
      return
    }

    if (directConnection(this.components, peer) == null) {
      void this.lose(peer, 'disconnected', new InvalidRelayError('connection to the relay closed'))
    }
  }

  /**
   * A held relay is gone: forget the reservation, back off from the relay and
   * reserve on the next best measured candidate.
   */
  private async lose (peer: PeerId, reason: 'disconnected' | 'renewal-failed', err: Error): Promise<void> {
    if (!this.held.has(peer)) {
      return
    }

    this.markDown(peer, err)
    // the relay's connection is closed: the transport withdraws the addresses;
    // make sure it is, so the relay can free our slot
    await this.release(peer, reason)
    this.discoveryDelay = c.DEFAULT_DISCOVERY_RETRY
    await this.select()
    void this.discover()
  }

  /**
   * Drops a held relay (lost, or replaced by a faster one): stops renewing,
   * says so, and closes the connection, which makes the transport drop the
   * reservation and its addresses.
   */
  private async release (peer: PeerId, reason: 'disconnected' | 'renewal-failed' | 'replaced'): Promise<void> {
    const held = this.held.get(peer)

    if (held == null) {
      return
    }

    clearTimeout(held.renewTimer)
    this.held.delete(peer)
    this.log('released relay %p (%s)', peer, reason)
    this.safeDispatchEvent('relays:relay-lost', { detail: { peerId: peer, reason } })
    await Promise.all(this.components.connectionManager.getConnections(peer).map(async conn => conn.close().catch(() => {})))
  }
}
