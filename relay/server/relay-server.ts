import { InvalidMessageError, TimeoutError, TypedEventEmitter, serviceCapabilities, serviceDependencies, setMaxListeners } from '@libp2p/interface'
import { pbStream } from '@libp2p/utils'
import * as C from './constants.ts'
import { RelayStoppedError } from './errors.ts'
import { handleConnect } from './handlers/connect.ts'
import { handleReserve } from './handlers/reserve.ts'
import { RelayMetrics } from './metrics.ts'
import { BandwidthBudget } from './bandwidth.ts'
import { HopMessage, MAX_CIRCUIT_MESSAGE_SIZE, RELAY_V2_HOP_CODEC, Status } from '../../src/circuit/index.ts'
import { ReservationStore } from './reservation-store.ts'
import { splice } from './splice.ts'
import { ipKeyOf, isCircuit, limitOf } from './utils.ts'
import type { HopContext, HopServer } from './handlers/types.ts'
import type { RefusalReason, RelayLimit, RelayReservationInfo, RelayServer as RelayServerInterface, RelayServerComponents, RelayServerEvents, RelayServerInit, RelayServerStats, ReservationFreeReason } from './index.ts'
import type { StoredReservation } from './reservation-store.ts'
import type { Splice } from './splice.ts'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'

function infoOf (reservation: StoredReservation): RelayReservationInfo {
  return {
    peer: reservation.peer,
    expiry: reservation.expiry,
    addr: reservation.addr,
    limit: reservation.limit
  }
}

/**
 * Circuit relay v2 server: answers RESERVE and CONNECT requests on the hop
 * protocol and splices circuits to reserved peers over the stop protocol
 */
export class RelayServer extends TypedEventEmitter<RelayServerEvents> implements RelayServerInterface, HopServer, Startable {
  public readonly [Symbol.toStringTag] = '@relaymesh/relay-server'
  public readonly [serviceCapabilities]: string[] = ['@relaymesh/relay-server']
  public readonly [serviceDependencies]: string[] = []

  public readonly components: RelayServerComponents
  public readonly store: ReservationStore
  public readonly metrics: RelayMetrics
  public readonly maxCircuitsPerPeer: number
  public readonly maxCircuitsPerIp: number
  public readonly maxCircuits: number
  public readonly maxOutboundStopStreams: number
  private readonly log: Logger
  private readonly circuits: Set<Splice>
  private readonly circuitsPerPeer: Map<string, number>
  private readonly circuitsPerIp: Map<string, number>
  /** circuits open or mid-handshake */
  private heldCircuits: number
  private readonly budget?: BandwidthBudget
  private readonly hopTimeout: number
  private readonly maxInboundHopStreams: number
  private shutdownController: AbortController
  private started: boolean

  constructor (components: RelayServerComponents, init: RelayServerInit = {}) {
    super()

    this.components = components
    this.log = components.logger.forComponent('relaymesh:relay:server')
    this.hopTimeout = init.hopTimeout ?? C.DEFAULT_HOP_TIMEOUT
    this.maxCircuitsPerPeer = init.maxCircuitsPerPeer ?? C.DEFAULT_MAX_CIRCUITS_PER_PEER
    this.maxCircuitsPerIp = init.maxCircuitsPerIp ?? C.DEFAULT_MAX_CIRCUITS_PER_IP
    this.maxCircuits = init.maxCircuits ?? C.DEFAULT_MAX_CIRCUITS
    const bytesPerSecond = init.maxRelayedBytesPerSecond ?? C.DEFAULT_MAX_RELAYED_BYTES_PER_SECOND
    this.budget = bytesPerSecond > 0 ? new BandwidthBudget(bytesPerSecond) : undefined
    this.heldCircuits = 0
    this.circuitsPerIp = new Map()
    this.maxInboundHopStreams = init.maxInboundHopStreams ?? C.DEFAULT_MAX_INBOUND_HOP_STREAMS
    this.maxOutboundStopStreams = init.maxOutboundStopStreams ?? C.DEFAULT_MAX_OUTBOUND_STOP_STREAMS
    this.circuits = new Set()
    this.circuitsPerPeer = new Map()
    this.shutdownController = new AbortController()
    this.started = false
    this.store = new ReservationStore({
      maxReservations: init.maxReservations ?? C.DEFAULT_MAX_RESERVATIONS,
      maxReservationsPerIp: init.maxReservationsPerIp ?? C.DEFAULT_MAX_RESERVATIONS_PER_IP,
      reservationTtl: init.reservationTtl ?? C.DEFAULT_RESERVATION_TTL,
      rateLimit: init.reservationRateLimit ?? C.DEFAULT_RESERVATION_RATE_LIMIT,
      rateLimitWindow: init.reservationRateLimitWindow ?? C.DEFAULT_RESERVATION_RATE_LIMIT_WINDOW,
      limit: limitOf(init),
      log: this.log,
      onFree: (reservation, reason) => { this.onFree(reservation, reason) }
    })
    this.metrics = new RelayMetrics({
      metrics: components.metrics,
      reservations: () => this.store.size,
      circuits: () => this.circuits.size
    })

    this.onHop = this.onHop.bind(this)
    this.onConnectionClose = this.onConnectionClose.bind(this)
  }

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    if (this.started) {
      return
    }

    this.shutdownController = new AbortController()
    setMaxListeners(Infinity, this.shutdownController.signal)

    await this.components.registrar.handle(RELAY_V2_HOP_CODEC, this.onHop, {
      maxInboundStreams: this.maxInboundHopStreams,
      runOnLimitedConnection: true
    })
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.started = true
  }

  /**
   * Unregisters the hop protocol, aborts in-flight requests and open
   * circuits, and frees every reservation
   */
  async stop (): Promise<void> {
    if (!this.started) {
      return
    }

    this.started = false
    this.shutdownController.abort(new RelayStoppedError('relay server stopped'))
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    await this.components.registrar.unhandle(RELAY_V2_HOP_CODEC)
    this.store.clear('stopped')
    await Promise.all([...this.circuits].map(async circuit => circuit.done))
  }

  get reservations (): RelayReservationInfo[] {
    return [...this.store.values()].map(infoOf)
  }

  get reservationCount (): number {
    return this.store.size
  }

  get circuitCount (): number {
    return this.circuits.size
  }

  get stats (): RelayServerStats {
    return this.metrics.stats
  }

  getReservation (peer: PeerId): RelayReservationInfo | undefined {
    const reservation = this.store.get(peer)

    return reservation == null ? undefined : infoOf(reservation)
  }

  private async onHop (stream: Stream, connection: Connection): Promise<void> {
    const log = stream.log.newScope('relay-server')
    const signal = AbortSignal.any([AbortSignal.timeout(this.hopTimeout), this.shutdownController.signal])
    setMaxListeners(Infinity, signal)
    const pb = pbStream(stream, { maxDataLength: MAX_CIRCUIT_MESSAGE_SIZE })
    const ctx: HopContext = { stream, connection, pb, hop: pb.pb(HopMessage), signal, log }
    let request: HopMessage

    try {
      request = await ctx.hop.read({ signal })
    } catch (err: any) {
      if (signal.aborted) {
        await this.onAborted(ctx)
        return
      }

      await this.refuse(ctx, 'malformed_message', Status.MALFORMED_MESSAGE, err)
      return
    }

    try {
      if (request.type === HopMessage.Type.RESERVE) {
        await handleReserve(this, ctx)
      } else if (request.type === HopMessage.Type.CONNECT) {
        await handleConnect(this, ctx, request)
      } else if (request.type == null) {
        await this.refuse(ctx, 'malformed_message', Status.MALFORMED_MESSAGE, new InvalidMessageError('hop message had no type'))
      } else {
        await this.refuse(ctx, 'unexpected_message', Status.UNEXPECTED_MESSAGE)
      }
    } catch (err: any) {
      if (signal.aborted) {
        await this.onAborted(ctx)
        return
      }

      log.error('hop request from %p failed - %e', connection.remotePeer, err)
      stream.abort(err)
    }
  }

  /**
   * The hop timeout fired or the server stopped while handling a request
   */
  private async onAborted (ctx: HopContext): Promise<void> {
    if (this.shutdownController.signal.aborted) {
      ctx.stream.abort(new RelayStoppedError('relay server stopped'))
      return
    }

    await this.refuse(ctx, 'timeout', undefined, new TimeoutError(`hop request did not complete within ${this.hopTimeout} ms`))
  }

  async refuse (ctx: HopContext, reason: RefusalReason, status?: Status, err?: Error): Promise<void> {
    const peer = ctx.connection.remotePeer
    this.metrics.refused(reason)
    this.safeDispatchEvent('relay:refused-request', { detail: { peer, reason } })

    if (err != null) {
      ctx.log.error('refused hop request from %p (%s) - %e', peer, reason, err)
    } else {
      ctx.log('refused hop request from %p (%s)', peer, reason)
    }

    if (status != null) {
      try {
        const signal = ctx.signal.aborted ? AbortSignal.timeout(C.DEFAULT_HOP_TIMEOUT) : ctx.signal
        await ctx.hop.write({ type: HopMessage.Type.STATUS, status }, { signal })
        await ctx.stream.close({ signal })
      } catch (writeErr: any) {
        ctx.log.error('could not send %s to %p - %e', status, peer, writeErr)
        ctx.stream.abort(writeErr)
      }
    }

    if (err != null) {
      ctx.stream.abort(err)
    }
  }

  openCircuit (sourceStream: Stream, destinationStream: Stream, source: PeerId, destination: PeerId, limit: RelayLimit | undefined, log: Logger, release: () => void): void {
    const info = { source, destination, limit }
    const budget = this.budget
    const circuit = splice(sourceStream, destinationStream, {
      limit,
      signal: this.shutdownController.signal,
      log,
      onData: (bytes) => { this.metrics.relayed(bytes) },
      throttle: budget != null ? (bytes) => budget.take(bytes) : undefined
    })

    this.circuits.add(circuit)
    this.metrics.circuitOpened()
    log('opened circuit from %p to %p with limit %o', source, destination, limit ?? 'none')
    this.safeDispatchEvent('relay:opened-circuit', { detail: info })

    void circuit.done.then(({ forward, backward, error }) => {
      this.circuits.delete(circuit)
      release()
      this.metrics.circuitEnded(error)
      this.safeDispatchEvent('relay:closed-circuit', { detail: { ...info, sent: forward, received: backward, error } })
    })
  }

  directConnection (peer: PeerId, except?: string): Connection | undefined {
    return this.components.connectionManager.getConnections(peer)
      .find(conn => conn.id !== except && conn.status === 'open' && !isCircuit(conn.remoteAddr))
  }

  /**
   * A reservation lasts only while its client has a direct connection to us
   */
  private onConnectionClose (evt: CustomEvent<Connection>): void {
    const { remotePeer, id } = evt.detail

    if (this.store.has(remotePeer) && this.directConnection(remotePeer, id) == null) {
      this.log('client %p disconnected, freeing its reservation', remotePeer)
      this.store.remove(remotePeer, 'disconnected')
    }
  }

  reserved (reservation: StoredReservation, result: 'created' | 'renewed'): void {
    if (result === 'created') {
      this.metrics.reservationCreated()
      this.safeDispatchEvent('relay:created-reservation', { detail: infoOf(reservation) })
    } else {
      this.metrics.reservationRenewed()
      this.safeDispatchEvent('relay:renewed-reservation', { detail: infoOf(reservation) })
    }
  }

  private onFree (reservation: StoredReservation, reason: ReservationFreeReason): void {
    this.metrics.reservationFreed(reason)
    this.safeDispatchEvent('relay:freed-reservation', { detail: { ...infoOf(reservation), reason } })

    if (reason === 'stopped') {
      return
    }

    this.components.peerStore.merge(reservation.peer, {
      tags: { [C.RELAY_SOURCE_TAG]: undefined }
    })
      .catch((err: Error) => {
        this.log.error('could not untag %p - %e', reservation.peer, err)
      })
  }

  circuitRefusal (source: Connection, destination: Connection): RefusalReason | undefined {
    if (this.heldCircuits >= this.maxCircuits) {
      return 'max_circuits'
    }

    if (this.count(this.circuitsPerPeer, source.remotePeer.toString()) >= this.maxCircuitsPerPeer ||
      this.count(this.circuitsPerPeer, destination.remotePeer.toString()) >= this.maxCircuitsPerPeer) {
      return 'circuits_per_peer'
    }

    if (ipsOf(source, destination).some(ip => this.count(this.circuitsPerIp, ip) >= this.maxCircuitsPerIp)) {
      return 'circuits_per_ip'
    }

    if (this.budget?.exhausted === true) {
      return 'bandwidth'
    }
  }

  holdCircuit (source: Connection, destination: Connection): () => void {
    const peers = [source.remotePeer.toString(), destination.remotePeer.toString()]
    const ips = ipsOf(source, destination)
    let held = true
    const change = (delta: number): void => {
      this.heldCircuits += delta
      peers.forEach(peer => { this.add(this.circuitsPerPeer, peer, delta) })
      ips.forEach(ip => { this.add(this.circuitsPerIp, ip, delta) })
    }

    change(1)

    return () => {
      if (held) {
        held = false
        change(-1)
      }
    }
  }

  private count (counts: Map<string, number>, key: string): number {
    return counts.get(key) ?? 0
  }

  private add (counts: Map<string, number>, key: string, delta: number): void {
    const count = (counts.get(key) ?? 0) + delta

    if (count > 0) {
      counts.set(key, count)
    } else {
      counts.delete(key)
    }
  }
}

/**
 * The per-IP keys a circuit between these connections counts against: each
 * side's, once when both come from one IP
 */
function ipsOf (source: Connection, destination: Connection): string[] {
  const keys = [ipKeyOf(source.remoteAddr), ipKeyOf(destination.remoteAddr)].filter((ip): ip is string => ip != null)

  return [...new Set(keys)]
}
