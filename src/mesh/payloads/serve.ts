import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { RoomNotJoinedError } from '../errors.ts'
import { Frames } from '../frames.ts'
import { PayloadAnswer } from '../pb/payload.ts'
import { openPayloadRequest } from './request.ts'
import type { Verifier } from '../../envelope/keys.ts'
import type { RoomImpl } from '../room.ts'
import type { Connection, Stream } from '@libp2p/interface'

/** largest request frame */
const MAX_REQUEST_FRAME = 2048

/**
 * A payload stream a member opened: reads its signed request (within
 * `timeout`) and hands it to the room it names, which gives the blocks or
 * passes the request on. The stream is closed when that is done.
 *
 * @throws {Error} a refusal (malformed, forged or stale request, a room we are not in), after the stream was answered and aborted
 */
export async function answerPayloadRequest (stream: Stream, connection: Connection, options: { rooms(): Iterable<RoomImpl>, verifier: Verifier, timeout: number }): Promise<void> {
  const frames = new Frames(stream, MAX_REQUEST_FRAME)

  try {
    const signal = AbortSignal.timeout(options.timeout)
    const request = await openPayloadRequest((await frames.read({ signal })).subarray(), options.verifier, { signal })
    const room = [...options.rooms()].find(room => uint8ArrayEquals(room.id, request.room) &&
      // a private room is as if we were not in it, to a peer that is not a member
      (room.secret == null || room.getMember(connection.remotePeer)?.joined === true))

    if (room == null) {
      await frames.write([PayloadAnswer.encode({ error: 'not in that room', gone: true })])
      throw new RoomNotJoinedError('a payload request for a room we are not in')
    }

    await room.payloads.serve(stream, connection, frames, request)
    await stream.close()
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}
