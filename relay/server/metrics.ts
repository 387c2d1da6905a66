import { METRIC_PREFIX } from './constants.ts'
import type { RefusalReason, RelayServerStats, ReservationFreeReason } from './index.ts'
import type { Counter, CounterGroup, Metrics } from '@libp2p/interface'

export const REFUSAL_REASONS: RefusalReason[] = [
  'max_reservations',
  'reservations_per_ip',
  'rate_limit',
  'relayed_connection',
  'permission_denied',
  'no_reservation',
  'circuits_per_peer',
  'circuits_per_ip',
  'max_circuits',
  'bandwidth',
  'connection_failed',
  'malformed_message',
  'unexpected_message',
  'timeout'
]

export interface RelayMetricsInit {
  metrics?: Metrics

  /**
   * Current number of reservations, read when metrics are collected
   */
  reservations(): number

  /**
   * Current number of open circuits, read when metrics are collected
   */
  circuits(): number
}

/**
 * Keeps the relay's counters, both as the plain `stats` snapshot and, when
 * libp2p has a metrics implementation, as `relaymesh_relay_*` metrics
 */
export class RelayMetrics {
  private readonly init: RelayMetricsInit
  private readonly refusals: Record<RefusalReason, number>
  private reservationsCreated = 0
  private reservationsRenewed = 0
  private reservationsFreed = 0
  private circuitsTotal = 0
  private bytesRelayed = 0
  private readonly refusalCounter?: CounterGroup<RefusalReason>
  private readonly createdCounter?: Counter
  private readonly renewedCounter?: Counter
  private readonly freedCounter?: CounterGroup<ReservationFreeReason>
  private readonly circuitCounter?: Counter
  private readonly circuitEndCounter?: CounterGroup
  private readonly bytesCounter?: Counter

  constructor (init: RelayMetricsInit) {
    this.init = init
    this.refusals = Object.fromEntries(REFUSAL_REASONS.map(reason => [reason, 0])) as Record<RefusalReason, number>

    const metrics = init.metrics

    if (metrics == null) {
      return
    }

    metrics.registerMetric(`${METRIC_PREFIX}reservations`, {
      help: 'Reservations currently held',
      calculate: () => init.reservations()
    })
    metrics.registerMetric(`${METRIC_PREFIX}circuits`, {
      help: 'Circuits currently open',
      calculate: () => init.circuits()
    })
    this.refusalCounter = metrics.registerCounterGroup(`${METRIC_PREFIX}refusals_total`, {
      label: 'reason',
      help: 'Hop requests refused, by reason'
    })
    this.createdCounter = metrics.registerCounter(`${METRIC_PREFIX}reservations_created_total`, {
      help: 'Reservations created'
    })
    this.renewedCounter = metrics.registerCounter(`${METRIC_PREFIX}reservations_renewed_total`, {
      help: 'Reservations renewed by their holder'
    })
    this.freedCounter = metrics.registerCounterGroup(`${METRIC_PREFIX}reservations_freed_total`, {
      label: 'reason',
      help: 'Reservations freed, by reason'
    })
    this.circuitCounter = metrics.registerCounter(`${METRIC_PREFIX}circuits_total`, {
      help: 'Circuits opened'
    })
    this.circuitEndCounter = metrics.registerCounterGroup(`${METRIC_PREFIX}circuits_ended_total`, {
      label: 'reason',
      help: 'Circuits ended, by reason (closed or the error name)'
    })
    this.bytesCounter = metrics.registerCounter(`${METRIC_PREFIX}bytes_total`, {
      help: 'Bytes relayed over circuits, both directions'
    })
  }

  refused (reason: RefusalReason): void {
    this.refusals[reason]++
    this.refusalCounter?.increment({ [reason]: true })
  }

  reservationCreated (): void {
    this.reservationsCreated++
    this.createdCounter?.increment()
  }

  reservationRenewed (): void {
    this.reservationsRenewed++
    this.renewedCounter?.increment()
  }

  reservationFreed (reason: ReservationFreeReason): void {
    this.reservationsFreed++
    this.freedCounter?.increment({ [reason]: true })
  }

  circuitOpened (): void {
    this.circuitsTotal++
    this.circuitCounter?.increment()
  }

  circuitEnded (error?: Error): void {
    this.circuitEndCounter?.increment({ [error?.name ?? 'closed']: true })
  }

  relayed (bytes: number): void {
    this.bytesRelayed += bytes
    this.bytesCounter?.increment(bytes)
  }

  get stats (): RelayServerStats {
    return {
      reservations: this.init.reservations(),
      reservationsCreated: this.reservationsCreated,
      reservationsRenewed: this.reservationsRenewed,
      reservationsFreed: this.reservationsFreed,
      circuits: this.init.circuits(),
      circuitsTotal: this.circuitsTotal,
      bytesRelayed: this.bytesRelayed,
      refusals: { ...this.refusals }
    }
  }
}
