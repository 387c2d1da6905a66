import { KEEP_ALIVE, serviceCapabilities, serviceDependencies, setMaxListeners } from '@libp2p/interface'
import { PeerMap } from '@libp2p/peer-collections'
import { peerIdFromString } from '@libp2p/peer-id'
import { repeatingTask } from '@libp2p/utils'
import { multiaddr, CODE_P2P } from '@multiformats/multiaddr'
import { Circuit } from '@multiformats/multiaddr-matcher'
import { TypedEventEmitter } from 'main-event'
import { CandidateTable } from './candidates.ts'
import * as c from './constants.ts'
import { InvalidRelayError } from './errors.ts'
import { relayNamespaceCid } from './namespace.ts'
import { requestReservation } from './reserve.ts'
import { chooseRelays } from './selection.ts'
import type { RelayCandidate } from './candidates.ts'
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
  private readonly init: Required<Omit<RelaysInit, 'bootstrap' | 'namespace'>> & Pick<RelaysInit, 'namespace'>
  private readonly bootstrap: Multiaddr[]
  private readonly log: Logger
  private readonly table: CandidateTable
  private readonly held = new PeerMap<Held>()
  private readonly reserving = new PeerMap<Promise<void>>()
  private shutdown = new AbortController()
  private task?: RepeatingTask
  private discoveryTimer?: ReturnType<typeof setTimeout>
  private discoveryDelay = c.DEFAULT_DISCOVERY_RETRY
  private evaluating?: Promise<void>
  private evaluateAgain = false
  private started = false

  constructor (components: RelaysComponents, init: RelaysInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('relaymesh:relays')
    this.bootstrap = (init.bootstrap ?? []).map(ma => multiaddr(ma.toString()))
    this.init = {
      relayCount: init.relayCount ?? c.DEFAULT_RELAY_COUNT,
      probeSamples: init.probeSamples ?? c.DEFAULT_PROBE_SAMPLES,
      probeTimeout: init.probeTimeout ?? c.DEFAULT_PROBE_TIMEOUT,
      reevaluateInterval: init.reevaluateInterval ?? c.DEFAULT_REEVALUATE_INTERVAL,
      hysteresis: init.hysteresis ?? c.DEFAULT_HYSTERESIS,
      minGain: init.minGain ?? c.DEFAULT_MIN_GAIN,
      renewAt: init.renewAt ?? c.DEFAULT_RENEW_AT,
      renewAttempts: init.renewAttempts ?? c.DEFAULT_RENEW_ATTEMPTS,
      backoffInitial: init.backoffInitial ?? c.DEFAULT_BACKOFF_INITIAL,
      backoffMax: init.backoffMax ?? c.DEFAULT_BACKOFF_MAX,
      discoveryTimeout: init.discoveryTimeout ?? c.DEFAULT_DISCOVERY_TIMEOUT,
      maxCandidates: init.maxCandidates ?? c.DEFAULT_MAX_CANDIDATES,
      discovery: init.discovery ?? true,
      namespace: init.namespace
    }
    this.table = new CandidateTable(this.init.maxCandidates)
    this.onConnectionClose = this.onConnectionClose.bind(this)
  }

  get selected (): SelectedRelay[] {
    return [...this.held.values()].map(({ renewTimer, renewFailures, ...relay }) => ({ ...relay }))
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
      const cid = await relayNamespaceCid(this.init.namespace)

      for await (const provider of this.components.contentRouting.findProviders(cid, { signal })) {
        try {
          if (provider.id.equals(this.components.peerId) || this.table.has(provider.id)) {
            continue
          }

          const addrs = provider.multiaddrs.filter(ma => !Circuit.matches(ma)).map(ma => ma.encapsulate(`/p2p/${provider.id}`))

          if (addrs.length > 0 && this.table.add(provider.id, addrs, 'dht')) {
            added++
            this.log('discovered relay %p in the DHT', provider.id)
            this.safeDispatchEvent('relays:candidate-discovered', { detail: { peerId: provider.id, addrs } })
          }
        } catch (err: any) {
          this.log.error('ignoring malformed provider record - %e', err)
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
    await Promise.all(stale.map(async candidate => this.measure(candidate)))

    await this.select()
  }

  /**
   * Chooses relays from what is measured and reserves on the new ones. Each
   * new one is tried in order until `relayCount` are held.
   */
  private async select (): Promise<void> {
    if (!this.started) {
      return
    }

    const heldIds = [...this.held.keys()].map(key => peerIdFromString(key.toString()))
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
      const connection = await this.connect(candidate, signal)
      const samples: number[] = []

      for (let i = 0; i < this.init.probeSamples; i++) {
        samples.push(await this.pingOnce(connection, signal))
      }

      samples.sort((a, b) => a - b)
      const latency = samples[Math.floor(samples.length / 2)]
      this.table.measured(candidate.peerId, latency)
      this.log('relay %p: %d ms (samples %o)', candidate.peerId, latency, samples)
      this.safeDispatchEvent('relays:candidate-measured', { detail: { peerId: candidate.peerId, latency } })
    } catch (err: any) {
      this.markDown(candidate.peerId, err)
    }
  }

  /**
   * One ping round trip. The DHT pings peers too and ping allows few streams
   * per connection, so a ping refused for that reason is tried again.
   */
  private async pingOnce (connection: Connection, signal: AbortSignal): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.components.ping.ping(connection.remoteAddr, { signal })
      } catch (err: any) {
        if (err.name !== 'TooManyOutboundProtocolStreamsError' || attempt >= 10) {
          throw err
        }

        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }
  }

  private async connect (candidate: RelayCandidate, signal: AbortSignal): Promise<Connection> {
    const existing = this.components.connectionManager.getConnections(candidate.peerId)
      .find(conn => conn.status === 'open' && !Circuit.matches(conn.remoteAddr))

    if (existing != null) {
      return existing
    }

    const connection = await this.components.connectionManager.openConnection(candidate.addrs, { signal })

    if (Circuit.matches(connection.remoteAddr)) {
      throw new InvalidRelayError('reached only over a relayed connection')
    }

    return connection
  }

  private markDown (peer: PeerId, err: Error): void {
    this.table.failed(peer, err, this.init.backoffInitial, this.init.backoffMax)
    const candidate = this.table.get(peer)
    this.log.error('relay %p is down (failure %d, retry in %d ms) - %e', peer, candidate?.failures, (candidate?.retryAt ?? 0) - Date.now(), err)
    this.safeDispatchEvent('relays:candidate-down', { detail: { peerId: peer, error: err } })

    // try it again once its backoff has passed
    const retry = setTimeout(() => { void this.evaluate() }, Math.max(0, (candidate?.retryAt ?? 0) - Date.now()))
    this.shutdown.signal.addEventListener('abort', () => { clearTimeout(retry) }, { once: true })
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
        const connection = await this.connect(candidate, signal)
        const relayAddr = connection.remoteAddr.getComponents().some(c => c.code === CODE_P2P)
          ? connection.remoteAddr
          : connection.remoteAddr.encapsulate(`/p2p/${peer}`)
        await this.listenOn(relayAddr.encapsulate('/p2p-circuit'))
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
   * The circuit relay transport clears its reservation queue whenever one of
   * its reservations ends, aborting any reservation still queued: one such
   * abort is tried again.
   */
  private async listenOn (addr: Multiaddr): Promise<void> {
    try {
      await this.components.transportManager.listen([addr])
    } catch (err: any) {
      if (err.name !== 'AbortError' || this.shutdown.signal.aborted) {
        throw err
      }

      this.log('reservation through %a was aborted by the transport, trying again', addr)
      await this.components.transportManager.listen([addr])
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

    const connection = this.components.connectionManager.getConnections(held.peerId)
      .find(conn => conn.status === 'open' && !Circuit.matches(conn.remoteAddr))

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

    const stillOpen = this.components.connectionManager.getConnections(peer)
      .some(conn => conn.status === 'open' && !Circuit.matches(conn.remoteAddr))

    if (!stillOpen) {
      void this.lose(peer, 'disconnected', new InvalidRelayError('connection to the relay closed'))
    }
  }

  /**
   * A held relay is gone: forget the reservation, back off from the relay and
   * reserve on the next best measured candidate.
   */
  private async lose (peer: PeerId, reason: 'disconnected' | 'renewal-failed', err: Error): Promise<void> {
    const held = this.held.get(peer)

    if (held == null) {
      return
    }

    clearTimeout(held.renewTimer)
    this.held.delete(peer)
    this.markDown(peer, err)
    this.log('lost relay %p (%s)', peer, reason)
    this.safeDispatchEvent('relays:relay-lost', { detail: { peerId: peer, reason } })

    // the relay's connection is closed: the transport withdraws the addresses;
    // make sure it is, so the relay can free our slot
    await Promise.all(this.components.connectionManager.getConnections(peer).map(async conn => conn.close().catch(() => {})))
    this.discoveryDelay = c.DEFAULT_DISCOVERY_RETRY
    await this.select()
    void this.discover()
  }

  /**
   * Drops a held relay that a faster one replaces.
   */
  private async release (peer: PeerId, reason: 'replaced'): Promise<void> {
    const held = this.held.get(peer)

    if (held == null) {
      return
    }

    clearTimeout(held.renewTimer)
    this.held.delete(peer)
    this.log('releasing relay %p (%s)', peer, reason)
    this.safeDispatchEvent('relays:relay-lost', { detail: { peerId: peer, reason } })
    // closing the connection makes the transport drop the reservation and its addresses
    await Promise.all(this.components.connectionManager.getConnections(peer).map(async conn => conn.close().catch(() => {})))
  }
}
