import { InvalidMessageError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { anySignal } from 'any-signal'
import * as Digest from 'multiformats/hashes/digest'
import { openReplayRequest, openRoomMessage, sealReplayRequest } from '../envelope/message.ts'
import { REPLAY_REQUEST_MAX_SIZE } from './constants.ts'
import { RoomNotJoinedError } from './errors.ts'
import { ReplayResponse } from './pb/replay.ts'
import type { HeldRange } from './log.ts'
import type { Member } from './member.ts'
import type { RoomImpl } from './room.ts'
import type { PeerId, Stream } from '@libp2p/interface'

/**
 * Asks `member` for the messages we lack: a signed request with the highest
 * seq we hold in order per sender and epoch, answered with what the member's
 * log holds beyond them. Each message is checked (signature, sender, room,
 * roster) before it is taken; what no member holds any more becomes a `gap`.
 */
export async function replayFrom (room: RoomImpl, member: Member): Promise<void> {
  const session = member.session

  if (session == null || !session.open || room.isClosed) {
    return
  }

  const { init, components } = room.ctx
  const signal = anySignal([room.signal, AbortSignal.timeout(init.replayTimeout)])
  let stream: Stream | undefined

  try {
    const request = await sealReplayRequest({ room: room.name, heads: room.messaging.heads() }, components.privateKey, { signal })
    stream = await session.connection.newStream(room.ctx.replayProtocol, { signal, runOnLimitedConnection: true })
    const lp = lpStream(stream, { maxDataLength: init.maxMessageSize })
    await lp.write(request, { signal })

    const first = decodeResponse(await lp.read({ signal }))
    const held: HeldRange[] = first.held.map(h => ({
      sender: peerIdFromMultihash(Digest.decode(h.sender)),
      epoch: Number(h.epoch),
      lowest: Number(h.lowest),
      highest: Number(h.highest)
    }))
    let received = 0
    let response = first

    while (!response.end) {
      response = decodeResponse(await lp.read({ signal }))

      if (response.message == null) {
        continue
      }

      if (++received > init.maxLogMessages) {
        throw new InvalidMessageError(`more than ${init.maxLogMessages} messages in one replay`)
      }

      const message = await openRoomMessage(response.message, { room: room.name, maxSize: init.maxMessageSize })

      if (!message.sender.equals(components.peerId)) {
        room.checkRoster(message.sender)
        room.messaging.accept(message, true)
      }
    }

    room.log('replay from %p: %d messages', member.peerId, received)
    await stream.close({ signal })
    room.messaging.settle(member, held)
  } catch (err: any) {
    stream?.abort(err)
    throw err
  } finally {
    signal.clear()
  }
}

function decodeResponse (bytes: { subarray(): Uint8Array }): ReplayResponse {
  try {
    return ReplayResponse.decode(bytes.subarray())
  } catch (err: any) {
    throw new InvalidMessageError(`malformed replay response: ${err.message}`)
  }
}

/**
 * Answers a replay request on `stream`: checks it (signature, requester is
 * the peer on the stream, room joined, roster, freshness), then writes what
 * the room's log holds, then what the requester lacks, then the end.
 */
export async function answerReplay (stream: Stream, remotePeer: PeerId, rooms: (name: string) => RoomImpl | undefined, maxMessageSize: number, timeout: number): Promise<RoomImpl | undefined> {
  const signal = AbortSignal.timeout(timeout)
  const lp = lpStream(stream, { maxDataLength: Math.min(maxMessageSize, REPLAY_REQUEST_MAX_SIZE) })
  const bytes = (await lp.read({ signal })).subarray()
  const request = await openReplayRequest(bytes, remotePeer, { maxSize: REPLAY_REQUEST_MAX_SIZE })
  const room = rooms(request.room)

  if (room == null) {
    throw new RoomNotJoinedError(`not in room "${request.room}"`)
  }

  room.checkRoster(request.requester)

  await lp.write(ReplayResponse.encode({
    held: room.messaging.log.held().map(h => ({
      sender: h.sender.toMultihash().bytes,
      epoch: BigInt(h.epoch),
      lowest: BigInt(h.lowest),
      highest: BigInt(h.highest)
    }))
  }), { signal })

  for (const message of room.messaging.missing(request.heads)) {
    await lp.write(ReplayResponse.encode({ message: message.envelope as Uint8Array<ArrayBuffer> }), { signal })
  }

  await lp.write(ReplayResponse.encode({ end: true }), { signal })
  await stream.close({ signal })
  return room
}
