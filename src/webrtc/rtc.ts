import { RTCPeerConnection as PolyfillPeerConnection, RTCSessionDescription, RTCIceCandidate } from 'node-datachannel/polyfill'

/**
 * How long `close()` of a `disconnected` or `failed` connection waits for
 * libdatachannel's own close before it closes anyway
 */
export const NATIVE_CLOSE_WAIT = 2000

/**
 * node-datachannel's `RTCPeerConnection` (the WebRTC API in Node.js) with one
 * fix, made from outside through its public API (docs/webrtc-fixes.md, fault 4).
 *
 * When a connection becomes `disconnected` or `failed`, libdatachannel queues
 * its own close on a worker thread. A `close()` from the JS thread at that
 * moment races it, and node-datachannel's wrapper frees the callbacks the
 * worker may still be calling: a rare SIGSEGV of the whole process, seen when
 * both ends of connections close at once (node-datachannel #245,
 * libdatachannel #1181). In those two states `close()` waits until the native
 * side reports `closed` (closing a closed connection is safe), or
 * {@link NATIVE_CLOSE_WAIT}, then closes. A second `close()` does nothing.
 */
export class RTCPeerConnection extends PolyfillPeerConnection {
  #closeRequested = false

  close (): void {
    if (this.#closeRequested) {
      return
    }

    this.#closeRequested = true
    const state = this.connectionState

    if (state !== 'disconnected' && state !== 'failed') {
      super.close()
      return
    }

    const closeNow = (): void => {
      clearTimeout(timer)
      this.removeEventListener('connectionstatechange', onChange)
      super.close()
    }
    const onChange = (): void => {
      if (this.connectionState === 'closed') {
        setImmediate(closeNow)
      }
    }
    const timer = setTimeout(closeNow, NATIVE_CLOSE_WAIT)
    timer.unref?.()
    this.addEventListener('connectionstatechange', onChange)
  }
}

export { RTCSessionDescription, RTCIceCandidate }
