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
  sendWindowUpdate?: unknown
}

/**
 * Makes a yamux stream send a `WINDOW_UPDATE` once half of its receive window
 * is used, as go-yamux does, instead of after every data frame it receives.
 * Updates that carry a flag (SYN, ACK) and those of a paused or resumed stream
 * go out as before. Returns whether it could (a stream without the expected
 * fields is left as it is).
 */
export function halfWindowUpdates (stream: unknown): boolean {
  const s = stream as YamuxStreamWindow

  if (typeof s.sendWindowUpdate !== 'function' || typeof s.recvWindow !== 'number' || typeof s.recvWindowCapacity !== 'number' || typeof s.state !== 'number') {
    return false
  }

  const sendWindowUpdate = s.sendWindowUpdate.bind(s)
  s.sendWindowUpdate = (): void => {
    const window = s.recvWindow as number
    const used = window - (s.recvWindowCapacity as number)

    if (PLAIN_UPDATE_STATES.has(s.state as number) && used < window / 2) {
      return
    }

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

        if (typeof internals._newStream === 'function') {
          const newStream = internals._newStream.bind(muxer)
          internals._newStream = (...streamArgs: unknown[]): unknown => {
            const stream = newStream(...streamArgs)
            halfWindowUpdates(stream)
            return stream
          }
        }

        return muxer
      }
    })
  }
}
