import { pbStream } from '@libp2p/utils'
import { RELAY_INFO_PROTOCOL, MAX_RELAY_INFO_SIZE } from '../src/relays/index.ts'
import { RelayInfo } from '../src/relays/index.ts'
import type { IceServer } from '../src/relays/index.ts'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, Startable, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'

/** How long a client may take to read the answer, in ms */
const ANSWER_TIMEOUT = 10_000

/** relay-info streams open at once per connection */
const MAX_INBOUND_STREAMS = 2

/**
 * Options of {@link relayInfo}.
 */
export interface RelayInfoInit {
  /**
   * The ICE servers to hand out to `peer`, read for each request (the relay
   * program mints TURN credentials only for peers holding a reservation)
   */
  iceServers(peer: PeerId): RTCIceServer[]
}

/**
 * The components {@link relayInfo} uses.
 */
export interface RelayInfoComponents {
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  logger: ComponentLogger
}

class RelayInfoService implements Startable {
  readonly [Symbol.toStringTag] = '@relaymesh/relay-info'
  private readonly components: RelayInfoComponents
  private readonly init: RelayInfoInit
  private readonly log: Logger

  constructor (components: RelayInfoComponents, init: RelayInfoInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('relaymesh:relay:relay-info')
    this.onStream = this.onStream.bind(this)
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(RELAY_INFO_PROTOCOL, this.onStream, { maxInboundStreams: MAX_INBOUND_STREAMS })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(RELAY_INFO_PROTOCOL)
  }

  private async onStream (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(ANSWER_TIMEOUT)

    try {
      const iceServers = this.init.iceServers(connection.remotePeer).map(toIceServer)
      await pbStream(stream, { maxDataLength: MAX_RELAY_INFO_SIZE }).pb(RelayInfo).write({ iceServers }, { signal })
      await stream.close({ signal })
      this.log.trace('sent %d ICE servers to %p', iceServers.length, connection.remotePeer)
    } catch (err: any) {
      this.log.error('could not send ICE servers to %p - %e', connection.remotePeer, err)
      stream.abort(err)
    }
  }
}

/**
 * The relay side of `/relaymesh/relay-info/1.0.0`: to each stream, one
 * `RelayInfo` with the ICE servers `init.iceServers` gives for the peer, then
 * close.
 */
export function relayInfo (init: RelayInfoInit): (components: RelayInfoComponents) => Startable {
  return (components) => new RelayInfoService(components, init)
}

function toIceServer (server: RTCIceServer): IceServer {
  return {
    urls: [server.urls].flat(),
    username: server.username,
    credential: server.credential
  }
}
