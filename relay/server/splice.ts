import { HALF_CLOSE_TIMEOUT, SPLICE_MAX_READ_BUFFER_LENGTH } from './constants.ts'
import { CircuitClosedError, DurationLimitError, RelayStoppedError, TransferLimitError } from './errors.ts'
import type { Logger, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'

export interface SpliceLimit {
  /**
   * Abort the circuit this many ms after it opened
   */
  duration?: number

  /**
   * Abort the circuit when one direction carries more than this many bytes
   */
  data?: bigint
}

export interface SpliceInit {
  /**
   * Limits to enforce; none when omitted
   */
  limit?: SpliceLimit

  /**
   * Aborting this signal aborts both streams with its reason
   */
  signal?: AbortSignal

  log: Logger

  /**
   * Called for every chunk forwarded, with its length
   */
  onData?(bytes: number): void

  /**
   * Called for every chunk forwarded, with its length; returns how many ms
   * to stop reading from the side it came from (a shared bandwidth budget),
   * 0 to go on
   */
  throttle?(bytes: number): number

  /**
   * How long the circuit waits, once one side has closed, for the other to
   * close too before it aborts both, in ms
   *
   * @default HALF_CLOSE_TIMEOUT (5 s)
   */
  halfCloseTimeout?: number
}

export interface SpliceResult {
  /**
   * Bytes forwarded from the first stream to the second
   */
  forward: number

  /**
   * Bytes forwarded from the second stream to the first
   */
  backward: number

  /**
   * How often either direction was paused because the receiving stream
   * could not take more data
   */
  pauses: number

  /**
   * Set when the circuit ended by an abort rather than both sides closing
   */
  error?: Error
}

export interface Splice {
  /**
   * Resolves once both streams are closed and every listener is removed
   */
  readonly done: Promise<SpliceResult>

  /**
   * Bytes held by the two streams' read and write buffers right now
   */
  readonly bufferedBytes: number

  /**
   * Abort both streams
   */
  abort(err: Error): void
}

type Direction = 'forward' | 'backward'

function isFinished (stream: Stream): boolean {
  return stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset'
}

/**
 * Joins two message streams so that what arrives on one is sent on the other,
 * with backpressure: when a stream cannot take more data (`send` returns
 * `false`) the stream feeding it is paused until everything queued on it has
 * been sent, so the muxer's flow control holds the sender back instead of a
 * buffer here growing: beyond the muxer windows, at most one message per
 * direction waits here.
 *
 * The end of one side's data (remote close-write) half-closes the other side
 * once everything before it was delivered; an abort or reset of either side
 * aborts the other. Nothing is kept once the circuit ends.
 */
export function splice (a: Stream, b: Stream, init: SpliceInit): Splice {
  const { log, limit, signal } = init
  const counts: Record<Direction, number> = { forward: 0, backward: 0 }
  const paused: Record<Direction, boolean> = { forward: false, backward: false }
  const ended: Record<Direction, boolean> = { forward: false, backward: false }
  const throttled: Record<Direction, ReturnType<typeof setTimeout> | undefined> = { forward: undefined, backward: undefined }
  const dataLimit = limit?.data != null && limit.data > 0n ? limit.data : undefined
  let pauses = 0
  let error: Error | undefined
  let finished = false
  let durationTimer: ReturnType<typeof setTimeout> | undefined
  let halfCloseTimer: ReturnType<typeof setTimeout> | undefined
  const { promise, resolve } = Promise.withResolvers<SpliceResult>()
  const cleanups: Array<() => void> = []

  function listen<K extends 'message' | 'drain' | 'idle' | 'end' | 'close'> (stream: Stream, type: K, listener: (evt: any) => void): void {
    stream.addEventListener(type, listener)
    cleanups.push(() => { stream.removeEventListener(type, listener) })
  }

  function finish (): void {
    if (finished) {
      return
    }

    finished = true
    clearTimeout(durationTimer)
    clearTimeout(halfCloseTimer)
    clearTimeout(throttled.forward)
    clearTimeout(throttled.backward)
    cleanups.forEach(fn => { fn() })
    cleanups.length = 0
    log('circuit ended, %d bytes forward, %d bytes backward, %d pauses%s', counts.forward, counts.backward, pauses, error != null ? ` - ${error.message}` : '')
    resolve({ forward: counts.forward, backward: counts.backward, pauses, error })
  }

  function abort (err: Error): void {
    if (finished) {
      return
    }

    error ??= err
    a.abort(err)
    b.abort(err)
    finish()
  }

  function maybeFinish (): void {
    if (isFinished(a) && isFinished(b)) {
      finish()
    }
  }

  /**
   * Every byte the remote sent before closing its writable end has been
   * handed to `dst`, so half-close `dst` once they are sent
   */
  function endOfInput (src: Stream, dst: Stream, direction: Direction): void {
    if (ended[direction] || finished || src.status === 'aborted' || src.status === 'reset' || dst.writeStatus !== 'writable') {
      return
    }

    ended[direction] = true
    dst.close({ signal })
      .catch((err: Error) => {
        abort(err)
      })

    // a relayed connection is a muxer over this circuit, which cannot work
    // one way: if the other side does not close too, the circuit (and the
    // per-peer circuit slots it holds) would stay until the duration limit
    const timeout = init.halfCloseTimeout ?? HALF_CLOSE_TIMEOUT
    halfCloseTimer ??= setTimeout(() => {
      abort(new CircuitClosedError(`one side closed and the other did not within ${timeout} ms`))
    }, timeout)
  }

  /**
   * Reads from `src` again once neither backpressure nor the bandwidth
   * budget holds it
   */
  function resume (src: Stream, direction: Direction): void {
    if (finished || paused[direction] || throttled[direction] != null || src.readStatus !== 'paused') {
      return
    }

    try {
      src.resume()
    } catch (err: any) {
      abort(err)
    }
  }

  function pipe (src: Stream, dst: Stream, direction: Direction): void {
    listen(src, 'message', (evt: StreamMessageEvent) => {
      const length = evt.data.byteLength

      if (dataLimit != null && BigInt(counts[direction] + length) > dataLimit) {
        abort(new TransferLimitError(`data limit of ${dataLimit} bytes in one direction exceeded`))
        return
      }

      counts[direction] += length
      init.onData?.(length)
      const wait = init.throttle?.(length) ?? 0

      try {
        if (!dst.send(evt.data) && src.readStatus === 'readable') {
          // the receiving side is full: stop reading until it drains, so
          // the sender's muxer window closes instead of our buffers growing
          paused[direction] = true
          pauses++
          src.pause()
        }

        if (wait > 0 && throttled[direction] == null) {
          // over the bandwidth budget: stop reading for a while, the same way
          throttled[direction] = setTimeout(() => {
            throttled[direction] = undefined
            resume(src, direction)
          }, wait)

          if (src.readStatus === 'readable') {
            src.pause()
          }
        }
      } catch (err: any) {
        abort(err)
        return
      }

      // data read ahead before the splice arrives after 'end' was emitted
      if (src.readableEnded && src.readBufferLength === 0) {
        endOfInput(src, dst, direction)
      }
    })

    // resume once `dst` has sent everything queued. A 'drain' can come from
    // the muxer's connection while this stream's window is still shut, so
    // check the stream's own state after its send queue has been processed
    const resumeIfWritable = (): void => {
      queueMicrotask(() => {
        if (finished || !paused[direction] || dst.writeBufferLength > 0 || dst.writableNeedsDrain) {
          return
        }

        paused[direction] = false
        resume(src, direction)
      })
    }

    listen(dst, 'drain', resumeIfWritable)
    listen(dst, 'idle', resumeIfWritable)

    listen(src, 'end', () => { endOfInput(src, dst, direction) })

    listen(src, 'close', (evt: StreamCloseEvent) => {
      if (evt.error != null) {
        abort(evt.error)
        return
      }

      // `src` can take no more data: if `dst` may still send some, end it
      if (!dst.readableEnded && !isFinished(dst)) {
        abort(new CircuitClosedError('the other side of the circuit closed'))
        return
      }

      maybeFinish()
    })
  }

  for (const stream of [a, b]) {
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, SPLICE_MAX_READ_BUFFER_LENGTH)
  }

  pipe(a, b, 'forward')
  pipe(b, a, 'backward')

  if (signal != null) {
    const onAbort = (): void => {
      abort(signal.reason instanceof Error ? signal.reason : new RelayStoppedError('circuit aborted'))
    }

    signal.addEventListener('abort', onAbort, { once: true })
    cleanups.push(() => { signal.removeEventListener('abort', onAbort) })

    if (signal.aborted) {
      onAbort()
    }
  }

  if (!finished && limit?.duration != null && limit.duration > 0) {
    durationTimer = setTimeout(() => {
      abort(new DurationLimitError(`duration limit of ${limit.duration} ms exceeded`))
    }, limit.duration)
  }

  if (!finished && (isFinished(a) || isFinished(b))) {
    abort(new CircuitClosedError('a side of the circuit closed before it was spliced'))
  }

  // a side whose remote finished sending before the splice emits no 'end'
  if (a.readableEnded && a.readBufferLength === 0) {
    endOfInput(a, b, 'forward')
  }

  if (b.readableEnded && b.readBufferLength === 0) {
    endOfInput(b, a, 'backward')
  }

  return {
    done: promise,
    get bufferedBytes () {
      return a.readBufferLength + a.writeBufferLength + b.readBufferLength + b.writeBufferLength
    },
    abort
  }
}
