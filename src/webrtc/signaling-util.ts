import { ConnectionFailedError, InvalidMessageError, InvalidMultiaddrError } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CustomProgressEvent } from 'progress-events'
import { raceSignal } from 'race-signal'
import { MAX_ICE_CANDIDATES } from './constants.ts'
import { Message } from './pb/signaling.ts'
import { RTCIceCandidate } from './rtc.ts'
import type { RTCPeerConnection } from './rtc.ts'
import type { WebRTCDialEvents } from './transport.ts'
import type { AbortOptions, LoggerOptions, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { MessageStream } from 'it-protobuf-stream'
import type { DeferredPromise } from 'p-defer'
import type { ProgressOptions } from 'progress-events'

/** relaymesh: errors that mean the remote sent what it may not */
const MALFORMED = new Set(['InvalidMessageError', 'InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError'])

export interface ReadCandidatesOptions extends AbortOptions, LoggerOptions, ProgressOptions<WebRTCDialEvents> {
  direction: string

  /**
   * relaymesh: the most ICE candidate messages taken; one more is refused
   * with an `InvalidMessageError`
   *
   * @default MAX_ICE_CANDIDATES
   */
  maxCandidates?: number
}

export const readCandidatesUntilConnected = async (pc: RTCPeerConnection, stream: MessageStream<Message, Stream>, options: ReadCandidatesOptions): Promise<void> => {
  // relaymesh fix 2: created outside the try block so that the catch block
  // can keep waiting on it; the no-op catch avoids an unhandled rejection if
  // the connection fails after we stopped listening
  const connectedPromise = Promise.withResolvers<void>()
  connectedPromise.promise.catch(() => {})

  const maxCandidates = options.maxCandidates ?? MAX_ICE_CANDIDATES
  let candidates = 0

  try {
    resolveOnConnected(pc, connectedPromise)

    // read candidates until we are connected or we reach the end of the stream
    while (true) {
      // if we connect, stop trying to read from the stream
      const message = await Promise.race([
        connectedPromise.promise,
        stream.read({
          signal: options.signal
        })
      ])

      // stream ended or we became connected
      if (message == null) {
        // throw if we timed out
        options.signal?.throwIfAborted()

        break
      }

      if (message.type !== Message.Type.ICE_CANDIDATE) {
        throw new InvalidMessageError('ICE candidate message expected')
      }

      // relaymesh: bounded, and malformed JSON is malformed input
      if (++candidates > maxCandidates) {
        throw new InvalidMessageError(`more than ${maxCandidates} ICE candidates`)
      }

      let candidateInit: any

      try {
        candidateInit = JSON.parse(message.data ?? 'null')
      } catch (err: any) {
        throw new InvalidMessageError(`malformed ICE candidate: ${err.message}`)
      }

      // an empty string means this generation of candidates is complete, a null
      // candidate means candidate gathering has finished
      // see - https://www.w3.org/TR/webrtc/#rtcpeerconnectioniceevent
      if (candidateInit === '' || candidateInit === null) {
        options.onProgress?.(new CustomProgressEvent('webrtc:end-of-ice-candidates'))
        options.log.trace('end-of-candidates received')

        continue
      }

      const candidate = new RTCIceCandidate(candidateInit)

      options.log.trace('%s received new ICE candidate %o', options.direction, candidateInit)

      try {
        options.onProgress?.(new CustomProgressEvent<string>('webrtc:add-ice-candidate', candidate.candidate))
        await pc.addIceCandidate(candidate)
      } catch (err) {
        options.log.error('%s bad candidate received %o - %e', options.direction, candidateInit, err)
      }
    }
  } catch (err) {
    options.log.error('%s error parsing ICE candidate - %e', options.direction, err)

    // relaymesh fix 2: the RTCPeerConnection failed or closed (e.g. the DTLS
    // handshake failed): fail now, so the caller closes the peer connection
    // and aborts the signaling stream, instead of carrying on until the dial
    // times out
    if (err instanceof ConnectionFailedError) {
      throw err
    }

    // relaymesh: malformed input and the deadline fail the exchange now, so
    // that the caller closes the peer connection at once (the stock code
    // waited for the deadline, holding it). A stream that ended, was reset
    // or closed is the end of signaling, not of the connection: the remote
    // may be connected already and closing its relayed connection, so we
    // wait for our own (below), as fix 2 does; a peer's exchanges at once are
    // bounded (MAX_SIGNALING_STREAMS_PER_PEER)
    if (pc.connectionState !== 'connected' && (options.signal?.aborted === true || MALFORMED.has((err as Error)?.name))) {
      throw err
    }
  }

  // relaymesh fix 2: the signaling stream can end before we are connected
  // (the remote closes it once it is connected itself): wait for our own
  // connection to succeed or fail rather than returning unconnected
  if (pc.connectionState !== 'connected') {
    await raceSignal(connectedPromise.promise, options.signal)
  }
}

function resolveOnConnected (pc: RTCPeerConnection, promise: DeferredPromise<void>): void {
  if (pc.connectionState === 'connected') {
    promise.resolve()
    return
  }

  // relaymesh fix 2: it may have failed before we started listening
  if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
    promise.reject(new ConnectionFailedError(`RTCPeerConnection connection state became "${pc.connectionState}"`))
    return
  }

  pc.onconnectionstatechange = (_) => {
    switch (pc.connectionState) {
      case 'connected':
        promise.resolve()
        break
      case 'failed':
      case 'closed':
        promise.reject(new ConnectionFailedError(`RTCPeerConnection connection state became "${pc.connectionState}"`))
        break
      default:
        break
    }
  }
}

export function getRemotePeer (ma: Multiaddr): PeerId {
  let remotePeer: PeerId | undefined

  for (const component of ma.getComponents()) {
    if (component.name === 'p2p') {
      remotePeer = peerIdFromString(component.value ?? '')
    }
  }

  if (remotePeer == null) {
    throw new InvalidMultiaddrError('Remote peerId must be present in multiaddr')
  }

  return remotePeer
}

/** relaymesh: the ICE candidate lines of an SDP */
export function countCandidates (sdp: string | undefined): number {
  return sdp?.match(/^a=candidate:/gm)?.length ?? 0
}
