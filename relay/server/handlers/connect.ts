import { InvalidMessageError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import { HopMessage, MAX_CIRCUIT_MESSAGE_SIZE, RELAY_V2_STOP_CODEC, Status, StopMessage } from '../../../src/circuit/index.ts'
import { isCircuit, toWireLimit } from '../utils.ts'
import type { HopContext, HopServer } from './types.ts'
import type { RelayLimit } from '../index.ts'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'

/**
 * Answers a CONNECT request: asks the reserved destination over the stop
 * protocol to accept the circuit, then splices the two streams
 */
export async function handleConnect (server: HopServer, ctx: HopContext, request: HopMessage): Promise<void> {
  const { connection, signal, log } = ctx
  const source = connection.remotePeer
  let destination: PeerId

  if (isCircuit(connection.remoteAddr)) {
    await server.refuse(ctx, 'relayed_connection', Status.PERMISSION_DENIED)
    return
  }

  try {
    if (request.peer == null) {
      throw new InvalidMessageError('connect request had no peer')
    }

    request.peer.addrs.forEach(buf => multiaddr(buf))
    destination = peerIdFromMultihash(Digest.decode(request.peer.id))
  } catch (err: any) {
    await server.refuse(ctx, 'malformed_message', Status.MALFORMED_MESSAGE, err)
    return
  }

  const reservation = server.store.get(destination)

  if (reservation == null) {
    await server.refuse(ctx, 'no_reservation', Status.NO_RESERVATION)
    return
  }

  if ((await server.components.connectionGater.denyOutboundRelayedConnection?.(source, destination)) === true) {
    await server.refuse(ctx, 'permission_denied', Status.PERMISSION_DENIED)
    return
  }

  const destinationConnection = server.directConnection(destination)

  if (destinationConnection == null) {
    server.store.remove(destination, 'disconnected')
    await server.refuse(ctx, 'no_reservation', Status.NO_RESERVATION)
    return
  }

  const refusal = server.circuitRefusal(connection, destinationConnection)

  if (refusal != null) {
    await server.refuse(ctx, refusal, Status.RESOURCE_LIMIT_EXCEEDED)
    return
  }

  // hold the circuit's slots while the stop handshake runs
  const release = server.holdCircuit(connection, destinationConnection)
  let spliced = false

  try {
    const stopStream = await openStop(server, destinationConnection, source, reservation.limit, signal, log)

    if (stopStream == null) {
      await server.refuse(ctx, 'connection_failed', Status.CONNECTION_FAILED)
      return
    }

    try {
      await ctx.hop.write({ type: HopMessage.Type.STATUS, status: Status.OK, limit: toWireLimit(reservation.limit) }, { signal })
    } catch (err: any) {
      stopStream.abort(err)
      throw err
    }

    server.openCircuit(ctx.pb.unwrap(), stopStream, source, destination, reservation.limit, log, release)
    spliced = true
  } finally {
    if (!spliced) {
      release()
    }
  }
}

/**
 * Asks `connection`'s peer over the stop protocol to accept a circuit from
 * `source`; returns the stream if it did
 */
async function openStop (server: HopServer, connection: Connection, source: PeerId, limit: RelayLimit | undefined, signal: AbortSignal, log: Logger): Promise<Stream | undefined> {
  const start = Date.now()
  let stream: Stream | undefined

  try {
    stream = await connection.newStream(RELAY_V2_STOP_CODEC, {
      maxOutboundStreams: server.maxOutboundStopStreams,
      runOnLimitedConnection: true,
      signal
    })
    const pb = pbStream(stream, { maxDataLength: MAX_CIRCUIT_MESSAGE_SIZE })
    const stop = pb.pb(StopMessage)

    await stop.write({
      type: StopMessage.Type.CONNECT,
      peer: { id: source.toMultihash().bytes as Uint8Array<ArrayBuffer>, addrs: [] },
      limit: toWireLimit(limit)
    }, { signal })
    const response = await stop.read({ signal })

    if (response.type === StopMessage.Type.STATUS && response.status === Status.OK) {
      return pb.unwrap()
    }

    log('%p refused the circuit from %p with %s', connection.remotePeer, source, response.status)
    await stream.close({ signal })
  } catch (err: any) {
    log.error('stop handshake with %p failed after %d ms - %e', connection.remotePeer, Date.now() - start, err)
    stream?.abort(err)
  }
}
