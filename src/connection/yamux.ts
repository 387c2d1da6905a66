import { yamux } from '@libp2p/yamux'
import type { StreamMuxerFactory } from '@libp2p/interface'
import type { YamuxMuxerInit } from '@libp2p/yamux'

/**
 * The states of `@libp2p/yamux` 8's `StreamState` in which a window update
 * carries no flag (the stream's SYN or ACK went out already) and the stream is
 * not paused
 */
const PLAIN_UPDATE_STATES = new Set([
  1, // SYNSent
  3, // Established
  4 // Finished
])

/**
 * The internals of `@libp2p/yamux` 8's `YamuxStream` that the window fix reads
 */
interface YamuxStreamWindow {
  state?: unknown
  recvWindow?: unknown
  recvWindowCapacity?: unknown
  maxStreamWindowSize?: unknown
  epochStart?: unknown
  getRTT?: unknown
  sendWindowUpdate?: unknown
}

/**
 * Makes a yamux stream send a `WINDOW_UPDATE` once half of its receive window
 * is used, as go-yamux does, instead of after every data frame it receives.
 * The window still grows as in `@libp2p/yamux` (doubled, up to
 * `maxStreamWindowSize`, when the window was used within four round trips of
 * the last update), before the check. Updates that carry a flag (SYN, ACK)
 * and those of a paused stream go out as before. Returns whether it could (a
 * stream without the expected fields is left as it is).
 */
export function halfWindowUpdates (stream: unknown): boolean {
  const s = stream as YamuxStreamWindow

  if (typeof s.sendWindowUpdate !== 'function' || typeof s.getRTT !== 'function' || typeof s.recvWindow !== 'number' ||
    typeof s.recvWindowCapacity !== 'number' || typeof s.maxStreamWindowSize !== 'number' || typeof s.epochStart !== 'number' ||
    typeof s.state !== 'number') {
    return false
  }

  const sendWindowUpdate = s.sendWindowUpdate.bind(s)
  const getRTT = s.getRTT.bind(s)
  s.sendWindowUpdate = (): void => {
    if (!PLAIN_UPDATE_STATES.has(s.state as number)) {
      sendWindowUpdate()
      return
    }

    // the window @libp2p/yamux would grow to before deciding
    const rtt = getRTT() as number
    const window = s.recvWindow as number
    const grown = rtt > -1 && Date.now() - (s.epochStart as number) <= rtt * 4 ? Math.min(window * 2, s.maxStreamWindowSize as number) : window

    if (grown - (s.recvWindowCapacity as number) < grown / 2) {
      s.recvWindow = grown
      return
    }

    // the original grows the window the same way and sends the update
    sendWindowUpdate()
  }

  return true
}

interface YamuxMuxerStreams {
  _newStream?: unknown
}

/**
 * `@libp2p/yamux` with one fix, made from outside (docs/webrtc-fixes.md,
 * fault 6): `@libp2p/yamux` 8.0.3 answers every data frame
 * it receives with a `WINDOW_UPDATE` frame, doubling the frames (each one
 * encrypted and written) on every connection; each stream of a muxer made by
 * this factory sends it once half its receive window is used
 * ({@link halfWindowUpdates}). The wire protocol is unchanged. A drop-in for
 * `yamux()`, with the same options.
 */
export function meshYamux (init?: YamuxMuxerInit): () => StreamMuxerFactory {
  return () => {
    const factory = yamux(init)()
    const createStreamMuxer = factory.createStreamMuxer.bind(factory)

    return Object.assign(factory, {
      createStreamMuxer (...args: Parameters<typeof createStreamMuxer>): ReturnType<typeof createStreamMuxer> {
        const muxer = createStreamMuxer(...args)
        const internals = muxer as unknown as YamuxMuxerStreams
        const log = args[0]?.log

        if (typeof internals._newStream !== 'function') {
          log?.error('relaymesh: @libp2p/yamux has no _newStream; window updates stay one per frame (docs/webrtc-fixes.md, fault 6)')
          return muxer
        }

        const newStream = internals._newStream.bind(muxer)
        internals._newStream = (...streamArgs: unknown[]): unknown => {
          const stream = newStream(...streamArgs)

          if (!halfWindowUpdates(stream)) {
            log?.error('relaymesh: a @libp2p/yamux stream without the expected window fields; window updates stay one per frame (docs/webrtc-fixes.md, fault 6)')
          }

          return stream
        }

        return muxer
      }
    })
  }
}
