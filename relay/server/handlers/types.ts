import type { RefusalReason, RelayLimit, RelayServerComponents } from '../index.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { HopMessage, Status } from '../../../src/circuit/index.ts'
import type { ReservationStore, StoredReservation } from '../reservation-store.ts'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { ProtobufMessageStream, ProtobufStream } from '@libp2p/utils'

/**
 * One inbound hop request being handled
 */
export interface HopContext {
  stream: Stream
  connection: Connection
  pb: ProtobufStream<Stream>
  hop: ProtobufMessageStream<HopMessage, Stream>

  /**
   * Aborts at the hop timeout or when the server stops
   */
  signal: AbortSignal
  log: Logger
}

/**
 * What the hop handlers use of the server
 */
export interface HopServer {
  components: RelayServerComponents
  store: ReservationStore
  metrics: RelayMetrics
  maxOutboundStopStreams: number

  /**
   * Counts and reports a refused request, answers it with `status` if given,
   * and closes the stream; with `err` the stream is aborted afterwards
   */
  refuse(ctx: HopContext, reason: RefusalReason, status?: Status, err?: Error): Promise<void>

  /**
   * Reports a created or renewed reservation
   */
  reserved(reservation: StoredReservation, result: 'created' | 'renewed'): void

  /**
   * An open, non-relayed connection to `peer`, other than `except`
   */
  directConnection(peer: PeerId, except?: string): Connection | undefined

  /**
   * Why a circuit between the peers of these two connections may not open
   * now, if it may not: a per-peer, per-IP or total cap, or the bandwidth
   * budget
   */
  circuitRefusal(source: Connection, destination: Connection): RefusalReason | undefined

  /**
   * Counts a circuit between the peers of these connections against every
   * cap; the returned function (idempotent) releases it
   */
  holdCircuit(source: Connection, destination: Connection): () => void

  /**
   * Splices the two streams into a circuit and tracks it until it ends, then
   * calls `release`
   */
  openCircuit(sourceStream: Stream, destinationStream: Stream, source: PeerId, destination: PeerId, limit: RelayLimit | undefined, log: Logger, release: () => void): void
}
