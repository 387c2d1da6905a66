import { InvalidMessageError } from '@libp2p/interface'
import { pbStream } from '@libp2p/utils'
import { multiaddr, CODE_P2P } from '@multiformats/multiaddr'
import { Circuit } from '@multiformats/multiaddr-matcher'
import { MAX_CIRCUIT_MESSAGE_SIZE, RELAY_V2_HOP_CODEC } from '../circuit/index.ts'
import { InvalidRelayError, InvalidReservationError, ReservationRefusedError } from './errors.ts'
import { HopMessage, Status } from './pb/hop.ts'
import type { RelaysComponents } from './index.ts'
import type { AbortOptions, Connection, Logger } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * A reservation granted by a relay.
 */
export interface Reservation {
  /** When it ends unless renewed, ms since the epoch */
  expiry: number
  /** The relay's addresses, each ending in `/p2p/<relay>`, to encapsulate `/p2p-circuit` in */
  addrs: Multiaddr[]
  /** Limits the relay applies to circuits to us, if any */
  limit?: { duration?: number, data?: bigint }
}

/**
 * Sends a circuit relay v2 RESERVE on `connection` and returns the
 * reservation. Sending it again on a live reservation renews it.
 */
export async function requestReservation (connection: Connection, options: AbortOptions): Promise<Reservation> {
  if (Circuit.matches(connection.remoteAddr)) {
    throw new InvalidRelayError('will not reserve over a relayed connection')
  }

  const stream = await connection.newStream(RELAY_V2_HOP_CODEC, options)
  const hop = pbStream(stream, { maxDataLength: MAX_CIRCUIT_MESSAGE_SIZE }).pb(HopMessage)
  let response: HopMessage

  try {
    await hop.write({ type: HopMessage.Type.RESERVE }, options)
    response = await hop.read(options)
    await stream.close(options)
  } catch (err: any) {
    stream.abort(err)
    throw err
  }

  if (response.type !== HopMessage.Type.STATUS) {
    throw new InvalidMessageError(`expected a STATUS message, got ${response.type}`)
  }

  if (response.status !== Status.OK) {
    throw new ReservationRefusedError(`relay refused the reservation with status ${response.status ?? 'none'}`)
  }

  const reservation = response.reservation

  if (reservation == null) {
    throw new InvalidReservationError('relay sent OK without a reservation')
  }

  const expiry = Number(reservation.expire) * 1000

  if (!Number.isFinite(expiry) || expiry <= Date.now()) {
    throw new InvalidReservationError(`relay sent an expiry in the past: ${reservation.expire}`)
  }

  const relay = connection.remotePeer.toString()
  const addrs = new Map<string, Multiaddr>()
  // the address we reached it on always works for us; the relay may list others
  addrs.set(connection.remoteAddr.toString(), withPeer(connection.remoteAddr, relay))

  for (const bytes of reservation.addrs ?? []) {
    try {
      const ma = withPeer(multiaddr(bytes), relay)
      addrs.set(ma.toString(), ma)
    } catch {
      throw new InvalidReservationError('relay sent an address that does not parse')
    }
  }

  return {
    expiry,
    addrs: [...addrs.values()],
    limit: response.limit == null
      ? undefined
      : {
          duration: response.limit.duration != null ? response.limit.duration * 1000 : undefined,
          data: response.limit.data
        }
  }
}

function withPeer (ma: Multiaddr, peer: string): Multiaddr {
  const last = ma.getComponents().findLast(c => c.code === CODE_P2P)

  if (last == null) {
    return ma.encapsulate(`/p2p/${peer}`)
  }

  if (last.value !== peer) {
    throw new InvalidReservationError(`address names another peer: ${ma}`)
  }

  return ma
}

/**
 * Listens on `<relay>/p2p-circuit` through the circuit relay transport, which
 * makes the reservation and publishes our relayed and WebRTC addresses. The
 * transport clears its reservation queue whenever one of its reservations
 * ends, aborting any still queued: one such abort is tried again.
 */
export async function listenThroughRelay (components: Pick<RelaysComponents, 'transportManager'>, addr: Multiaddr, shutdown: AbortSignal, log: Logger): Promise<void> {
  try {
    await components.transportManager.listen([addr])
  } catch (err: any) {
    if (err.name !== 'AbortError' || shutdown.aborted) {
      throw err
    }

    log('reservation through %a was aborted by the transport, trying again', addr)
    await components.transportManager.listen([addr])
  }
}
