import { AbstractMultiaddrConnection, repeatingTask } from '@libp2p/utils'
import type { AbortOptions, CounterGroup, Logger } from '@libp2p/interface'
import type { RepeatingTask, SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { WebSocket } from 'ws'

/** as @libp2p/websockets: sends pause above 4 MiB buffered */
const DEFAULT_MAX_BUFFERED_AMOUNT = 4 * 1024 * 1024
const DEFAULT_BUFFERED_AMOUNT_POLL_INTERVAL = 10

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

  sendData (data: Uint8ArrayList): SendResult {
    for (const buf of data) {
      this.websocket.send(buf)
    }

    const canSendMore = this.websocket.bufferedAmount < this.maxBufferedAmount

    if (!canSendMore) {
      this.checkBufferedAmountTask.start()
    }

    return { sentBytes: data.byteLength, canSendMore }
  }

  sendReset (): void {
    this.websocket.terminate()
  }

  async sendClose (options?: AbortOptions): Promise<void> {
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
    if (this.websocket.bufferedAmount === 0) {
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
