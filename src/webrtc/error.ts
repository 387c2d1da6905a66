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
