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
  maxCircuitsPerPeer: number
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

  circuitsOf(peer: PeerId): number
  countCircuit(peer: PeerId, delta: number): void

  /**
   * Splices the two streams into a circuit and tracks it until it ends
   */
  openCircuit(sourceStream: Stream, destinationStream: Stream, source: PeerId, destination: PeerId, limit: RelayLimit | undefined, log: Logger): void
}
