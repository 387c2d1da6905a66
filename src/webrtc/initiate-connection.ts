import { ConnectionFailedError, InvalidMessageError } from '@libp2p/interface'
import { pbStream } from '@libp2p/utils'
import { pEvent } from 'p-event'
import { CustomProgressEvent } from 'progress-events'
import { MAX_ICE_CANDIDATES, MAX_SIGNALING_MESSAGE_SIZE, SIGNALING_PROTOCOL } from './constants.ts'
import { SDPHandshakeFailedError } from './error.ts'
import { DataChannelMuxerFactory } from './muxer.ts'
import { Message } from './pb/signaling.ts'
import { RTCPeerConnection, RTCSessionDescription } from './rtc.ts'
import { countCandidates, readCandidatesUntilConnected } from './signaling-util.ts'
import { splitAddr } from './transport.ts'
import type { DataChannelOptions } from './index.ts'
import type { WebRTCDialEvents, WebRTCTransportMetrics } from './transport.ts'
import type { LoggerOptions, Connection, ComponentLogger, AbortOptions } from '@libp2p/interface'
import type { ConnectionManager, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ProgressOptions } from 'progress-events'

/**
 * The longest the initiator waits for the `init` channel's `close` once the
 * connection is up (relaymesh fix 1, docs/webrtc-fixes.md)
 */
export const INIT_CHANNEL_CLOSE_WAIT = 2000

export interface IncomingStreamOptions extends AbortOptions {
  rtcConfiguration?: RTCConfiguration
  dataChannelOptions?: Partial<DataChannelOptions>
}

export interface ConnectOptions extends LoggerOptions, ProgressOptions<WebRTCDialEvents> {
  rtcConfiguration?: RTCConfiguration
  dataChannel?: DataChannelOptions
  maxEarlyStreams?: number
  multiaddr: Multiaddr
  connectionManager: ConnectionManager
  transportManager: TransportManager
  dataChannelOptions?: Partial<DataChannelOptions>
  signal?: AbortSignal
  metrics?: WebRTCTransportMetrics
  logger: ComponentLogger
}

export async function initiateConnection ({ rtcConfiguration, dataChannel, maxEarlyStreams, signal, metrics, multiaddr: ma, connectionManager, transportManager, log, logger, onProgress }: ConnectOptions): Promise<{ remoteAddress: Multiaddr, peerConnection: globalThis.RTCPeerConnection, muxerFactory: DataChannelMuxerFactory }> {
  const { circuitAddress, targetPeer } = splitAddr(ma)

  metrics?.dialerEvents.increment({ open: true })

  log.trace('dialing circuit address: %a', circuitAddress)

  const connections = connectionManager.getConnections(targetPeer)
  let connection: Connection

  if (connections.length === 0) {
    onProgress?.(new CustomProgressEvent('webrtc:dial-relay'))

    // use the transport manager to open a connection. Initiating a WebRTC
    // connection takes place in the context of a dial - if we use the
    // connection manager instead we can end up joining our own dial context
    connection = await transportManager.dial(circuitAddress, {
      signal,
      onProgress
    })
  } else {
    onProgress?.(new CustomProgressEvent('webrtc:reuse-relay-connection'))

    connection = connections[0]
  }

  onProgress?.(new CustomProgressEvent('webrtc:open-signaling-stream'))

  const stream = await connection.newStream(SIGNALING_PROTOCOL, {
    signal,
    runOnLimitedConnection: true
  })

  // relaymesh: bounded messages (MAX_SIGNALING_MESSAGE_SIZE)
  const messageStream = pbStream(stream, { maxDataLength: MAX_SIGNALING_MESSAGE_SIZE }).pb(Message)
  const peerConnection = new RTCPeerConnection(rtcConfiguration)

  // make sure C++ peer connection is garbage collected
  // https://github.com/murat-dogan/node-datachannel/issues/366#issuecomment-3228453155
  peerConnection.addEventListener('connectionstatechange', () => {
    switch (peerConnection.connectionState) {
      case 'closed':
        peerConnection.close()
        break
      default:
        break
    }
  })

  const muxerFactory = new DataChannelMuxerFactory({
    // @ts-expect-error https://github.com/murat-dogan/node-datachannel/pull/370
    peerConnection,
    dataChannelOptions: dataChannel,
    maxEarlyStreams,
    metrics: metrics?.dialerEvents,
    log
  })

  try {
    // we create the channel so that the RTCPeerConnection has a component for
    // which to collect candidates. The label is not relevant to connection
    // initiation but can be useful for debugging
    const channel = peerConnection.createDataChannel('init')

    // relaymesh: what the init channel did, reported if a dial stalls waiting
    // for it to close (fix 1)
    const initChannelEvents: string[] = []
    for (const type of ['open', 'closing', 'close', 'error']) {
      channel.addEventListener(type, () => {
        initChannelEvents.push(`${type} (${channel.readyState})`)
      })
    }

    // relaymesh fix 2: hold our ICE candidates back until the SDP answer has
    // been applied. Sent right behind the offer, they let the answerer (ICE
    // controlled, DTLS client) finish ICE against us and send its DTLS
    // ClientHello while the answer is still travelling over the relay;
    // libdatachannel then starts our DTLS server inside setRemoteDescription(),
    // before it has stored the answer's certificate fingerprint, and the
    // handshake fails ("certificate verify failed" / "unknown CA"), or the
    // early ClientHello stalls until the 1 s DTLS retransmission.
    let pendingCandidates: Array<RTCIceCandidate | null> | undefined = []

    // setup callback to write ICE candidates to the remote peer
    peerConnection.onicecandidate = ({ candidate }) => {
      if (pendingCandidates != null) {
        pendingCandidates.push(candidate)
        return
      }

      if (peerConnection.connectionState === 'connected') {
        log.trace('ignore new ice candidate as peer connection is already connected')
        return
      }

      // a null candidate means end-of-candidates, an empty string candidate
      // means end-of-candidates for this generation, otherwise this should
      // be a valid candidate object
      // see - https://www.w3.org/TR/webrtc/#rtcpeerconnectioniceevent
      if (candidate == null || candidate?.candidate === '') {
        log.trace('initiator detected end of ICE candidates')
        return
      }

      const data = JSON.stringify(candidate?.toJSON() ?? null)

      log.trace('initiator sending ICE candidate %o', candidate)

      void messageStream.write({
        type: Message.Type.ICE_CANDIDATE,
        data
      }, {
        signal
      })
        .catch(err => {
          log.error('error sending ICE candidate - %e', err)
        })
    }
    peerConnection.onicecandidateerror = (event) => {
      log.error('initiator ICE candidate error', event)
    }

    // create an offer
    const offerSdp = await peerConnection.createOffer().catch(err => {
      log.error('could not execute createOffer - %e', err)
      throw new SDPHandshakeFailedError('Failed to set createOffer')
    })

    log.trace('initiator send SDP offer %s', offerSdp.sdp)

    onProgress?.(new CustomProgressEvent('webrtc:send-sdp-offer'))

    // write the offer to the stream
    await messageStream.write({ type: Message.Type.SDP_OFFER, data: offerSdp.sdp }, {
      signal
    })

    // set offer as local description
    await peerConnection.setLocalDescription(offerSdp).catch(err => {
      log.error('could not execute setLocalDescription - %e', err)
      throw new SDPHandshakeFailedError('Failed to set localDescription')
    })

    onProgress?.(new CustomProgressEvent('webrtc:read-sdp-answer'))

    log.trace('initiator read SDP answer')

    // read answer
    const answerMessage = await messageStream.read({
      signal
    })

    if (answerMessage.type !== Message.Type.SDP_ANSWER) {
      throw new SDPHandshakeFailedError('Remote should send an SDP answer')
    }

    // relaymesh: bounded, as the answerer bounds offers
    if (countCandidates(answerMessage.data) > MAX_ICE_CANDIDATES) {
      throw new InvalidMessageError(`SDP answer with more than ${MAX_ICE_CANDIDATES} ICE candidates`)
    }

    log.trace('initiator received SDP answer %s', answerMessage.data)

    const answerSdp = new RTCSessionDescription({ type: 'answer', sdp: answerMessage.data })
    await peerConnection.setRemoteDescription(answerSdp).catch(err => {
      log.error('could not execute setRemoteDescription - %e', err)
      throw new SDPHandshakeFailedError('Failed to set remoteDescription')
    })

    // relaymesh fix 2: the remote fingerprint is known now, release our
    // candidates so the answerer can start connectivity checks
    const buffered = pendingCandidates
    pendingCandidates = undefined
    log.trace('initiator sending %d buffered ICE candidates', buffered.length)
    for (const candidate of buffered) {
      // @ts-expect-error only `candidate` is read
      peerConnection.onicecandidate?.({ candidate })
    }

    log.trace('initiator read candidates until connected')

    onProgress?.(new CustomProgressEvent('webrtc:read-ice-candidates'))

    await readCandidatesUntilConnected(peerConnection, messageStream, {
      direction: 'initiator',
      signal,
      log,
      onProgress,
      maxCandidates: MAX_ICE_CANDIDATES - countCandidates(answerMessage.data)
    })

    log.trace('initiator connected')

    // relaymesh: progress between "connected" and closing the signaling
    // stream, so a dial that stalls there says where
    onProgress?.(new CustomProgressEvent('webrtc:connected'))

    // relaymesh fix 1: the remote closes the init channel as soon as it opens,
    // so here it may already be 'closing' or 'closed' and 'open' will never
    // fire again: only wait for 'open' while it is 'connecting' (and fail at
    // once if it closes or errors without opening)
    if (channel.readyState === 'connecting') {
      log.trace('wait for init channel to open')
      onProgress?.(new CustomProgressEvent('webrtc:wait-init-channel-open'))
      await pEvent(channel, 'open', {
        signal,
        rejectionEvents: ['error', 'close']
      }).catch(err => {
        throw err instanceof Error ? err : new ConnectionFailedError(`init data channel ${err?.type ?? 'failed'} before it opened`)
      })
    }

    // relaymesh fix 1: close it only if still open, and wait for 'close' only
    // if it has not already happened
    if (channel.readyState !== 'closed') {
      if (channel.readyState === 'open') {
        log.trace('closing init channel')
        channel.close()
      }

      // wait for init channel to close before proceeding, otherwise the channel
      // id can be reused before both sides have seen the channel close
      log.trace('waiting for init channel to close')
      onProgress?.(new CustomProgressEvent('webrtc:wait-init-channel-close', { readyState: channel.readyState }))

      // relaymesh fix 1: a close that has not come within
      // INIT_CHANNEL_CLOSE_WAIT is taken as lost (about once in 3,000
      // redials only `open` ever reached the channel, with both the
      // connection and SCTP connected): the dial goes on rather than failing
      // when the dial times out. The channel was closed at our end, or is
      // closed by the other side when it adopts it.
      const closeWait = signal == null ? AbortSignal.timeout(INIT_CHANNEL_CLOSE_WAIT) : AbortSignal.any([signal, AbortSignal.timeout(INIT_CHANNEL_CLOSE_WAIT)])
      await pEvent(channel, 'close', {
        signal: closeWait
      }).catch(err => {
        onProgress?.(new CustomProgressEvent('webrtc:init-channel-not-closed', {
          readyState: channel.readyState,
          events: initChannelEvents,
          connectionState: peerConnection.connectionState,
          sctpState: peerConnection.sctp?.state
        }))

        if (signal?.aborted === true || peerConnection.connectionState !== 'connected') {
          throw err
        }

        log('init channel close not seen after %d ms, going on', INIT_CHANNEL_CLOSE_WAIT)
      })
    }

    onProgress?.(new CustomProgressEvent('webrtc:close-signaling-stream'))

    log.trace('closing signaling channel')
    await stream.close({
      signal
    })

    log.trace('initiator connected to remote address %s', ma)

    return {
      remoteAddress: ma,
      // @ts-expect-error https://github.com/murat-dogan/node-datachannel/pull/370
      peerConnection,
      muxerFactory
    }
  } catch (err: any) {
    log.error('outgoing signaling error - %e', err)

    muxerFactory.close()
    peerConnection.close()
    stream.abort(err)
    throw err
  } finally {
    peerConnection.onicecandidate = null
    peerConnection.onicecandidateerror = null
  }
}
