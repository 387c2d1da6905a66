import { AbstractMultiaddrConnection, repeatingTask } from '@libp2p/utils'
import { concat } from 'uint8arrays/concat'
import type { AbortOptions, CounterGroup, Logger } from '@libp2p/interface'
import type { RepeatingTask, SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { WebSocket } from 'ws'

/** as @libp2p/websockets: sends pause above 4 MiB buffered */
const DEFAULT_MAX_BUFFERED_AMOUNT = 4 * 1024 * 1024
const DEFAULT_BUFFERED_AMOUNT_POLL_INTERVAL = 10
/** the most bytes held back to be joined into one WebSocket message */
const MAX_COALESCED_MESSAGE = 64 * 1024

export interface WebSocketConnectionInit {
  websocket: WebSocket
  remoteAddr: Multiaddr
  log: Logger
  metrics?: CounterGroup
  metricPrefix?: string
  maxBufferedAmount?: number
  bufferedAmountPollInterval?: number
}

/**
 * An inbound `ws` socket as a MultiaddrConnection: the same as
 * @libp2p/websockets' own (`websocket-to-conn.ts`, not exported there), on
 * the `ws` API instead of the DOM one
 */
class WebSocketMultiaddrConnection extends AbstractMultiaddrConnection {
  private readonly websocket: WebSocket
  private readonly maxBufferedAmount: number
  private readonly checkBufferedAmountTask: RepeatingTask
  /** pieces sent this tick, not yet given to the socket */
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private flushScheduled = false

  constructor (init: WebSocketConnectionInit) {
    super({ ...init, direction: 'inbound' })
    this.websocket = init.websocket
    this.maxBufferedAmount = init.maxBufferedAmount ?? DEFAULT_MAX_BUFFERED_AMOUNT
    this.checkBufferedAmountTask = repeatingTask(this.checkBufferedAmount.bind(this), init.bufferedAmountPollInterval ?? DEFAULT_BUFFERED_AMOUNT_POLL_INTERVAL)

    this.websocket.once('close', (code: number, reason: Buffer) => {
      this.log('closed - code %d, reason "%s"', code, reason.toString())
      this.checkBufferedAmountTask.stop()

      if (code === 1006) {
        this.onRemoteReset()
        return
      }

      this.onTransportClosed()
    })
    this.websocket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.abort(new Error('Text frames are not supported'))
        return
      }

      this.onData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    })
  }

  /**
   * Sends in the same tick are joined into one WebSocket message (one write
   * to the socket) on the next tick: the peer reads a byte stream, so
   * message boundaries carry nothing, and a write per yamux frame (each a
   * syscall) was the largest item in the relay's profile while admitting
   * clients. At MAX_COALESCED_MESSAGE bytes the pending pieces go at once,
   * each as its own message.
   */
  sendData (data: Uint8ArrayList): SendResult {
    for (const buf of data) {
      this.pending.push(buf)
      this.pendingBytes += buf.byteLength
    }

    if (this.pendingBytes >= MAX_COALESCED_MESSAGE) {
      this.flush()
    } else if (!this.flushScheduled) {
      this.flushScheduled = true
      process.nextTick(this.flushOnTick)
    }

    const canSendMore = this.websocket.bufferedAmount + this.pendingBytes < this.maxBufferedAmount

    if (!canSendMore) {
      this.checkBufferedAmountTask.start()
    }

    return { sentBytes: data.byteLength, canSendMore }
  }

  private readonly flushOnTick = (): void => {
    this.flushScheduled = false
    this.flush()
  }

  private flush (): void {
    if (this.pending.length === 0) {
      return
    }

    // small pieces are joined (a copy); bulk data goes piece by piece, as
    // @libp2p/websockets sends it, without copying
    const messages = this.pending.length > 1 && this.pendingBytes < MAX_COALESCED_MESSAGE ? [concat(this.pending, this.pendingBytes)] : this.pending
    this.pending = []
    this.pendingBytes = 0

    if (this.websocket.readyState === this.websocket.OPEN) {
      for (const message of messages) {
        this.websocket.send(message)
      }
    }
  }

  sendReset (): void {
    this.pending = []
    this.pendingBytes = 0
    this.websocket.terminate()
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    this.flush()
    this.websocket.close()
    options?.signal?.throwIfAborted()
  }

  sendPause (): void {
    this.websocket.pause()
  }

  sendResume (): void {
    this.websocket.resume()
  }

  private checkBufferedAmount (): void {
    if (this.websocket.bufferedAmount === 0 && this.pendingBytes === 0) {
      this.checkBufferedAmountTask.stop()
      this.safeDispatchEvent('drain')
    }
  }
}

/**
 * Wraps an upgraded inbound `ws` socket for libp2p's upgrader.
 */
export function webSocketToMaConn (init: WebSocketConnectionInit): AbstractMultiaddrConnection {
  return new WebSocketMultiaddrConnection(init)
}
