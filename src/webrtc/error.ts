export class WebRTCTransportError extends Error {
  constructor (msg: string) {
    super(`WebRTC transport error: ${msg}`)
    this.name = 'WebRTCTransportError'
  }
}

export class SDPHandshakeFailedError extends WebRTCTransportError {
  constructor (message = 'SDP handshake failed') {
    super(message)
    this.name = 'SDPHandshakeFailedError'
  }
}

/**
 * relaymesh: a peer opened more signaling streams at once than
 * `MAX_SIGNALING_STREAMS_PER_PEER`; the extra one is aborted with this
 */
export class SignalingLimitError extends WebRTCTransportError {
  constructor (message = 'too many signaling streams from one peer') {
    super(message)
    this.name = 'SignalingLimitError'
  }
}
