import { InvalidMessageError } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { anySignal } from 'any-signal'
import * as Digest from 'multiformats/hashes/digest'
import { sealReplayRequest } from '../../envelope/message.ts'
import { REPLAY_ENTRY_MAX_SIZE, REPLAY_STALL_TIMEOUT, FRAME_OVERHEAD, maxReplayFrameSize } from '../constants.ts'
import { ReplayRefusedError } from '../errors.ts'
import { ReplayFrame } from '../pb/replay.ts'
import type { ReplayLog, ReplayPeer, Want } from './index.ts'
import type { HeldRange } from '../messages/log.ts'
import type { Stream } from '@libp2p/interface'

/**
 * How a replay ended.
 */
export interface ReplayResult {
  /** messages received (new or not) */
  received: number
  /** the responder stopped early: our replay budget with it ran out */
  truncated: boolean
}

/**
 * Entries that fit in one page of `held` or `wants`.
 */
export function pageSize (maxMessageSize: number): number {
  return Math.max(1, Math.floor((maxReplayFrameSize({ maxMessageSize }) - FRAME_OVERHEAD) / REPLAY_ENTRY_MAX_SIZE))
}

/**
 * Asks `peer` for the messages we lack: a signed single-use request; the
 * responder's pages of what it holds; our pages of what we want from that;
 * its messages, each handed to `log.receive` (which checks it: cheap checks
 * first, then the signature), up to the end. Finally `log.settle` learns
 * what the responder did not hold.
 *
 * @throws {ReplayRefusedError | InvalidMessageError} or the stream's error
 */
export async function requestReplay (log: ReplayLog, peer: ReplayPeer): Promise<ReplayResult> {
  const { init, privateKey, room } = log.context
  const signal = anySignal([log.context.signal, AbortSignal.timeout(init.replayTimeout)])
  const frameMax = maxReplayFrameSize(init)
  let stream: Stream | undefined

  try {
    const request = await sealReplayRequest({ room }, privateKey, { signal }) as Uint8Array<ArrayBuffer>
    stream = await peer.connection.newStream(log.context.protocol, { signal, runOnLimitedConnection: true })
    const lp = lpStream(stream, { maxDataLength: frameMax })
    await lp.write(ReplayFrame.encode({ request }), { signal })

    // a responder that stops answering holds up the room's replays only this long
    const read = async (): Promise<ReplayFrame> => {
      const stalled = anySignal([signal, AbortSignal.timeout(REPLAY_STALL_TIMEOUT)])

      try {
        return decodeFrame(await lp.read({ signal: stalled }))
      } finally {
        stalled.clear()
      }
    }

    const held = await readHeld(read, log.context.maxHeldRanges)
    const wants = log.wants(held)
    const page = pageSize(init.maxMessageSize)

    for (let i = 0; i < wants.length || i === 0; i += page) {
      const last = i + page >= wants.length
      await lp.write(ReplayFrame.encode({
        wants: wants.slice(i, i + page).map(want => ({ sender: want.sender.toMultihash().bytes, epoch: BigInt(want.epoch), after: BigInt(want.after), upTo: BigInt(want.upTo) })),
        wantsEnd: last
      }), { signal })
    }

    // at most one batch per message the wanted ranges span, and never more
    // than a log holds: a responder sends only what it listed
    const owed = Math.min(wants.reduce((sum, want) => sum + want.upTo - want.after, 0), init.maxLogMessages)
    let received = 0
    let frame: ReplayFrame

    do {
      frame = await read()

      for (const bytes of frame.messages) {
        if (++received > owed) {
          throw new InvalidMessageError(`more messages in a replay than the ${owed} wanted`)
        }

        await log.receive(bytes, signal, peer.peerId)
      }
    } while (!frame.end)

    await stream.close({ signal })
    log.settle(peer.peerId, held, frame.truncated)
    return { received, truncated: frame.truncated }
  } catch (err: any) {
    stream?.abort(err)
    throw err
  } finally {
    signal.clear()
  }
}

async function readHeld (read: () => Promise<ReplayFrame>, max: number): Promise<HeldRange[]> {
  const held: HeldRange[] = []

  while (true) {
    const frame = await read()

    for (const h of frame.held) {
      if (held.length >= max) {
        throw new InvalidMessageError(`a replay lists more than ${max} held ranges`)
      }

      let sender

      try {
        sender = peerIdFromMultihash(Digest.decode(h.sender))
      } catch (err: any) {
        throw new InvalidMessageError(`malformed held range: ${err.message}`)
      }

      held.push({ sender, epoch: Number(h.epoch), lowest: Number(h.lowest), highest: Number(h.highest) })
    }

    if (frame.heldEnd) {
      return held
    }
  }
}

/**
 * Decodes a replay frame; a responder's refusal becomes its error.
 *
 * @throws {InvalidMessageError | ReplayRefusedError}
 */
export function decodeFrame (bytes: { subarray(): Uint8Array }): ReplayFrame {
  let frame: ReplayFrame

  try {
    frame = ReplayFrame.decode(bytes.subarray())
  } catch (err: any) {
    throw new InvalidMessageError(`malformed replay frame: ${err.message}`)
  }

  if (frame.refused != null) {
    throw new ReplayRefusedError(frame.refused)
  }

  return frame
}

export type { Want }
