import { InvalidMessageError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import * as Digest from 'multiformats/hashes/digest'
import { openReplayRequest } from '../../envelope/message.ts'
import { FRAME_OVERHEAD, REPLAY_ENTRY_MAX_SIZE, REPLAY_REQUEST_MAX_SIZE, maxReplayFrameSize } from '../constants.ts'
import { ReplayRefusedError, RoomNotJoinedError } from '../errors.ts'
import { ReplayFrame } from '../pb/replay.ts'
import { decodeFrame, pageSize } from './request.ts'
import type { ReplaySource, Want } from './index.ts'
import type { SignedRoomBatch } from '../../envelope/batch.ts'
import type { PeerId, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/**
 * What a replay answer cost.
 */
export interface ReplayAnswer {
  room: string
  messages: number
  bytes: number
  truncated: boolean
}

/**
 * Answers a replay request on `stream`. The request must be signed by the
 * peer on the stream, be fresh, for a room we are in, from a member we have
 * a session with, with a nonce not used before, and no other replay of that
 * member under way. We then list what we hold (less its own messages), read
 * what it wants of that, and send those messages while its budget lasts.
 *
 * A refusal is written to the requester (`refused`) and thrown.
 *
 * @throws {ReplayRefusedError | RoomNotJoinedError | InvalidMessageError} or the request's own check errors
 */
export async function answerReplay (stream: Stream, remotePeer: PeerId, rooms: (name: string, asker: PeerId) => ReplaySource | undefined, init: { maxMessageSize: number, replayTimeout: number }): Promise<ReplayAnswer> {
  const signal = AbortSignal.timeout(init.replayTimeout)
  const lp = lpStream(stream, { maxDataLength: maxReplayFrameSize(init) })
  let done: (() => void) | undefined

  try {
    const first = decodeFrame(await lp.read({ signal }))

    if (first.request == null) {
      throw new InvalidMessageError('a replay stream must start with a signed request')
    }

    const opened = await openReplayRequest(first.request, remotePeer, { maxSize: REPLAY_REQUEST_MAX_SIZE })
    const source = rooms(opened.room, remotePeer)

    if (source == null) {
      throw new RoomNotJoinedError(`not in room "${opened.room}"`)
    }

    source.checkAsker(remotePeer)
    done = source.guard.begin(remotePeer, opened.nonce)
    const held = source.held(remotePeer)
    const page = pageSize(source.context.init.maxMessageSize)

    for (let i = 0; i < held.length || i === 0; i += page) {
      if (!source.guard.take(remotePeer, Math.min(page, held.length - i) * REPLAY_ENTRY_MAX_SIZE)) {
        throw new ReplayRefusedError('the replay budget of this member is used up')
      }

      await lp.write(ReplayFrame.encode({
        held: held.slice(i, i + page).map(h => ({ sender: h.sender.toMultihash().bytes, epoch: BigInt(h.epoch), lowest: BigInt(h.lowest), highest: BigInt(h.highest) })),
        heldEnd: i + page >= held.length
      }), { signal })
    }

    const wants = await readWants(lp, held.length, signal)
    const answer = await sendMessages(lp, source, remotePeer, wants, signal)
    await stream.close({ signal })
    return { room: opened.room, ...answer }
  } catch (err: any) {
    if (err.name === 'ReplayRefusedError' || err.name === 'RoomNotJoinedError' || err.name === 'NotOnRosterError') {
      // the requester learns why; a write that fails changes nothing
      await lp.write(ReplayFrame.encode({ refused: err.message }), { signal }).catch(() => {})
      await stream.close({ signal }).catch(() => {})
    } else {
      stream.abort(err)
    }

    throw err
  } finally {
    done?.()
  }
}

async function readWants (lp: LengthPrefixedStream<Stream>, max: number, signal: AbortSignal): Promise<Want[]> {
  const wants: Want[] = []

  while (true) {
    const frame = decodeFrame(await lp.read({ signal }))

    for (const want of frame.wants) {
      if (wants.length >= max) {
        throw new InvalidMessageError('a replay wants more streams than were listed')
      }

      try {
        wants.push({ sender: peerIdFromMultihash(Digest.decode(want.sender)), epoch: Number(want.epoch), after: Number(want.after), upTo: Number(want.upTo) })
      } catch (err: any) {
        throw new InvalidMessageError(`malformed want: ${err.message}`)
      }
    }

    if (frame.wantsEnd) {
      return wants
    }
  }
}

/** writes the wanted messages, as many to a frame as fit, while the requester's budget lasts */
async function sendMessages (lp: LengthPrefixedStream<Stream>, source: ReplaySource, requester: PeerId, wants: Want[], signal: AbortSignal): Promise<Omit<ReplayAnswer, 'room'>> {
  const frameMax = maxReplayFrameSize(source.context.init) - FRAME_OVERHEAD
  let frame: Array<Uint8Array<ArrayBuffer>> = []
  let frameBytes = 0
  let messages = 0
  let bytes = 0
  let truncated = false

  const flush = async (): Promise<void> => {
    if (frame.length > 0) {
      await lp.write(ReplayFrame.encode({ messages: frame }), { signal })
      frame = []
      frameBytes = 0
    }
  }

  const wanted: SignedRoomBatch[] = []

  for (const want of wants.filter(want => !want.sender.equals(requester))) {
    wanted.push(...await source.batches(want, signal))
  }

  for (const batch of wanted) {
    const size = batch.bytes.byteLength

    if (!source.guard.take(requester, size)) {
      truncated = true
      break
    }

    if (frameBytes + size + 4 > frameMax) {
      await flush()
    }

    frame.push(batch.bytes)
    frameBytes += size + 4
    messages += batch.messages.length
    bytes += size
  }

  await flush()
  await lp.write(ReplayFrame.encode({ end: true, truncated }), { signal })
  return { messages, bytes, truncated }
}
