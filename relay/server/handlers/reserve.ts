import { ConnectionClosedError } from '@libp2p/interface'
import { RELAY_SOURCE_TAG, RELAY_SOURCE_TAG_VALUE } from '../constants.ts'
import { HopMessage, Status } from '../../../src/circuit/index.ts'
import { isCircuit, toWireLimit } from '../utils.ts'
import { signVoucher } from '../voucher.ts'
import type { HopContext, HopServer } from './types.ts'

/**
 * Answers a RESERVE request: creates or renews the client's reservation and
 * sends it with a signed voucher and the relay's public addresses
 */
export async function handleReserve (server: HopServer, ctx: HopContext): Promise<void> {
  const { connection, signal, log } = ctx
  const { components, store } = server
  const peer = connection.remotePeer
  const start = Date.now()

  if (isCircuit(connection.remoteAddr)) {
    await server.refuse(ctx, 'relayed_connection', Status.PERMISSION_DENIED)
    return
  }

  if ((await components.connectionGater.denyInboundRelayReservation?.(peer)) === true) {
    await server.refuse(ctx, 'permission_denied', Status.PERMISSION_DENIED)
    return
  }

  const result = store.reserve(peer, connection.remoteAddr)

  if (result.result === 'refused') {
    await server.refuse(ctx, result.reason, Status.RESERVATION_REFUSED)
    return
  }

  const { reservation } = result
  server.reserved(reservation, result.result)

  // the client may have left while the request was read
  if (server.directConnection(peer) == null) {
    store.remove(peer, 'disconnected')
    ctx.stream.abort(new ConnectionClosedError('the client disconnected'))
    return
  }

  try {
    const expire = BigInt(Math.floor(reservation.expiry.getTime() / 1000))

    await components.peerStore.merge(peer, {
      tags: {
        [RELAY_SOURCE_TAG]: { value: RELAY_SOURCE_TAG_VALUE, ttl: reservation.expiry.getTime() - Date.now() }
      }
    }, { signal })
    await ctx.hop.write({
      type: HopMessage.Type.STATUS,
      status: Status.OK,
      reservation: {
        expire,
        addrs: components.addressManager.getAddresses()
          .filter(addr => !isCircuit(addr))
          .map(addr => addr.bytes as Uint8Array<ArrayBuffer>),
        voucher: await signVoucher({ relay: components.peerId, peer, expiration: expire }, components.privateKey, { signal })
      },
      limit: toWireLimit(reservation.limit)
    }, { signal })
    await ctx.stream.close({ signal })
    log('%s reservation for %p until %s in %d ms', result.result, peer, reservation.expiry.toISOString(), Date.now() - start)
  } catch (err: any) {
    log.error('failed to send reservation to %p after %d ms - %e', peer, Date.now() - start, err)

    if (store.get(peer) === reservation) {
      store.remove(peer, 'failed')
    }

    ctx.stream.abort(err)
  }
}
