import { InvalidMessageError, StreamResetError } from '@libp2p/interface'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { MessageTooLargeError } from '../envelope/errors.ts'
import type { AbortOptions, Stream, StreamMessageEvent, StreamCloseEvent } from '@libp2p/interface'

/**
 * Frames read but not yet taken, past which the stream is paused (where
 * its muxer can hold the sender back), and below which it is resumed.
 */
const PAUSE_AT = 64
const RESUME_AT = 16

/**
 * The stream ended (cleanly) before a whole frame arrived.
 */
export class StreamEndedError extends Error {
  static name = 'StreamEndedError'
  name = 'StreamEndedError'
}

/**
 * Length-prefixed frames on a libp2p stream: each chunk that arrives is cut
 * into every whole frame it completes, at once (no awaited read per byte of
 * a length prefix, no exception per frame); many frames go out in one write.
 */
export class Frames {
  private readonly stream: Stream
  private readonly maxFrameSize: number
  private readonly maxPrefixLength: number
  private readonly buffer = new Uint8ArrayList()
  private readonly queue: Uint8ArrayList[] = []
  private waiting?: { resolve(): void, reject(err: Error): void }
  /** why no more frames come: an error, or a clean end */
  private ended?: Error
  private paused = false

  constructor (stream: Stream, maxFrameSize: number) {
    this.stream = stream
    this.maxFrameSize = maxFrameSize
    this.maxPrefixLength = varint.encodingLength(maxFrameSize)
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('end', this.onEnd)
  }

  /**
   * The next frame.
   *
   * @throws {MessageTooLargeError | InvalidMessageError} a frame was refused; {StreamEndedError} or the stream's error when it ended
   */
  async read (options?: AbortOptions): Promise<Uint8ArrayList> {
    while (this.queue.length === 0) {
      if (this.ended != null) {
        throw this.ended
      }

      options?.signal?.throwIfAborted()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => { reject(options?.signal?.reason) }
        options?.signal?.addEventListener('abort', onAbort, { once: true })
        this.waiting = {
          resolve: () => { options?.signal?.removeEventListener('abort', onAbort); resolve() },
          reject: (err) => { options?.signal?.removeEventListener('abort', onAbort); reject(err) }
        }
      }).finally(() => { this.waiting = undefined })
    }

    const frame = this.queue.shift()!

    if (this.paused && this.queue.length <= RESUME_AT) {
      this.paused = false

      try {
        this.stream.resume()
      } catch {
        // the stream closed: what it still held arrives no more
      }
    }

    return frame
  }

  /** writes `frames`, each with its length prefix, in one send; waits while the stream's buffer is full */
  async write (frames: Uint8Array[], options?: AbortOptions): Promise<void> {
    const out = new Uint8ArrayList()

    for (const frame of frames) {
      out.append(varint.encode(frame.byteLength), frame)
    }

    if (!this.stream.send(out)) {
      await this.stream.onDrain(options)
    }
  }

  private readonly onMessage = (evt: StreamMessageEvent): void => {
    if (this.ended != null) {
      return
    }

    this.buffer.append(evt.data)

    try {
      this.cut()
    } catch (err: any) {
      this.end(err)
      this.stream.abort(err)
      return
    }

    if (this.queue.length > 0) {
      this.waiting?.resolve()
    }

    if (!this.paused && this.queue.length >= PAUSE_AT) {
      this.paused = true
      this.stream.pause()
    }
  }

  /** takes every whole frame off the buffer */
  private cut (): void {
    while (this.buffer.byteLength > 0) {
      let length = 0
      let prefix = 0

      // the varint, without decoding a partial one
      for (let shift = 0; ; shift += 7) {
        if (prefix === this.maxPrefixLength) {
          throw new InvalidMessageError('malformed length prefix')
        }

        if (prefix === this.buffer.byteLength) {
          return
        }

        const byte = this.buffer.get(prefix++)
        length += (byte & 0x7f) * 2 ** shift

        if (byte < 0x80) {
          break
        }
      }

      if (length > this.maxFrameSize) {
        throw new MessageTooLargeError(`frame of ${length} bytes is larger than ${this.maxFrameSize}`)
      }

      if (this.buffer.byteLength < prefix + length) {
        return
      }

      this.queue.push(this.buffer.sublist(prefix, prefix + length))
      this.buffer.consume(prefix + length)
    }
  }

  private readonly onClose = (evt: StreamCloseEvent): void => {
    this.end(evt.error ?? new StreamEndedError('the stream closed'))
  }

  /** the remote closed its end and every byte it sent was read (a paused stream holds them until resumed) */
  private readonly onEnd = (): void => {
    // a reset or an abort also ends the readable side, and dispatches 'end'
    // before the 'close' that carries its error: that is no clean end. An
    // abort's 'close' always follows; a reset's came already when the stream
    // still held unread bytes as it was reset
    if (this.stream.status === 'reset') {
      this.end(new StreamResetError('the remote reset the stream'))
      return
    }

    if (this.stream.status === 'aborted') {
      return
    }

    this.end(new StreamEndedError('the remote closed the stream'))
  }

  private end (err: Error): void {
    this.ended ??= err
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('end', this.onEnd)
    this.waiting?.reject(this.ended)
  }
}
