/**
 * @packageDocumentation
 *
 * The relay program's WebSocket transport: dials through @libp2p/websockets,
 * and listens with bounds for the public internet (frame size, upgrade and
 * idle timeouts, caps on sockets not yet upgraded) and with client addresses
 * from trusted reverse proxies (PROXY protocol v1/v2, `X-Forwarded-For`).
 */
import { serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { webSockets } from '@libp2p/websockets'
import { RelayWebSocketListener } from './listener.ts'
import type { ComponentLogger, CreateListenerOptions, DialTransportOptions, Connection, Libp2pEvents, Listener, Metrics, Transport, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ServerOptions } from 'node:https'

export { trustedProxies } from './trust.ts'

/**
 * Options of {@link relayWebSockets}.
 */
export interface RelayWebSocketsInit {
  /** TLS options (`cert`, `key`) to listen on `/tls/ws` */
  https?: ServerOptions
  /**
   * The largest WebSocket message accepted, in bytes; a larger one closes the connection
   *
   * @default 262144
   */
  maxFrameSize?: number
  /**
   * How long a socket may take from accept to a completed WebSocket upgrade, in ms
   *
   * @default 10000
   */
  upgradeTimeout?: number
  /**
   * A socket without a byte either way for this long is closed, in ms
   *
   * @default 60000
   */
  idleTimeout?: number
  /**
   * Sockets not yet upgraded to WebSocket, at once
   *
   * @default 512
   */
  maxPendingSockets?: number
  /**
   * Sockets not yet upgraded to WebSocket, at once from one client address
   *
   * @default 32
   */
  maxPendingSocketsPerIp?: number
  /**
   * CIDRs of reverse proxies whose PROXY protocol header or `X-Forwarded-For`
   * names the client; from anyone else a PROXY header closes the socket and
   * `X-Forwarded-For` is ignored
   *
   * @default []
   */
  trustProxy?: string[]
  /** as @libp2p/websockets: sending pauses above this many bytes buffered */
  maxBufferedAmount?: number
  /** as @libp2p/websockets: how often a paused send checks the buffer, in ms */
  bufferedAmountPollInterval?: number
}

/**
 * What {@link relayWebSockets} needs from libp2p.
 */
export interface RelayWebSocketsComponents {
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  metrics?: Metrics
}

class RelayWebSockets implements Transport {
  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = '@relaymesh/relay-websockets'
  readonly [serviceCapabilities] = ['@libp2p/transport']
  private readonly dialer: Transport
  private readonly components: RelayWebSocketsComponents
  private readonly init: RelayWebSocketsInit

  constructor (components: RelayWebSocketsComponents, init: RelayWebSocketsInit) {
    this.components = components
    this.init = init
    this.dialer = webSockets({ maxBufferedAmount: init.maxBufferedAmount, bufferedAmountPollInterval: init.bufferedAmountPollInterval })(components)
  }

  async dial (ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    return this.dialer.dial(ma, options)
  }

  createListener (options: CreateListenerOptions): Listener {
    return new RelayWebSocketListener(this.components, { ...this.init, upgrader: options.upgrader })
  }

  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.dialer.listenFilter(multiaddrs)
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.dialer.dialFilter(multiaddrs)
  }
}

/**
 * A WebSocket transport for public relays: dials as @libp2p/websockets
 * does, listens with the bounds of {@link RelayWebSocketsInit}.
 *
 * @throws {Error} when a `trustProxy` entry is not a CIDR (on listen)
 */
export function relayWebSockets (init: RelayWebSocketsInit = {}): (components: RelayWebSocketsComponents) => Transport {
  return (components) => new RelayWebSockets(components, init)
}
