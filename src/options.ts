import { identify } from '@libp2p/identify'
import { FaultTolerance } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { meshNoise, meshYamux } from './connection/index.ts'
import { DEFAULT_CONNECTION_MONITOR_MIN_TIMEOUT, DEFAULT_INBOUND_CONNECTIONS_PER_SOURCE, DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS } from './constants.ts'
import { dialHost, filterDials } from './dial-filter.ts'
import { limitInboundConnections } from './inbound-limiter.ts'
import { mesh } from './mesh/index.ts'
import { relaymeshDHT, relays } from './relays/index.ts'
import type { InboundConnectionLimitInit } from './inbound-limiter.ts'
import type { Mesh, MeshInit } from './mesh/index.ts'
import type { Relays, RelaysComponents, RelaysInit } from './relays/index.ts'
import type { Identify } from '@libp2p/identify'
import type { PrivateKey, ServiceMap } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import type { Libp2pOptions } from 'libp2p'

/**
 * The services every relaymesh node has.
 */
export interface RelaymeshServices extends ServiceMap {
  identify: Identify
  ping: Ping
  dht: KadDHT
  relays: Relays
  mesh: Mesh
}

/**
 * Options for {@link createMeshNode}.
 */
export interface MeshNodeInit<T extends ServiceMap = ServiceMap> {
  /**
   * Relay multiaddrs (each ending in `/p2p/<relay peer id>`) to start from.
   * The node joins the DHT through them, finds the other relays there, and
   * the `relays` service keeps reservations on the fastest (listening on
   * `<relay>/p2p-circuit`).
   *
   * @default []
   */
  bootstrap?: Array<string | Multiaddr>

  /**
   * Options of the `relays` service (relay count, probing, renewal, ...).
   */
  relays?: Omit<RelaysInit, 'bootstrap'>

  /**
   * Options of the `mesh` service (heartbeats, reconnection, limits, ...).
   */
  mesh?: MeshInit

  /**
   * Addresses to listen on. Relayed addresses come from the `relays` service.
   *
   * @default ['/webrtc']
   */
  listen?: string[]

  /**
   * The node's identity. A new Ed25519 key is generated when omitted.
   */
  privateKey?: PrivateKey

  /**
   * Where libp2p keeps its peer store and DHT records, and the mesh its room
   * logs and message counters (`mesh.persist` is on when this is given): with
   * `datastore-level` in Node or `datastore-idb` in a browser, a member that
   * restarts with the same key still holds what it had.
   *
   * @default an in-memory datastore
   */
  datastore?: Datastore

  /**
   * DHT mode: `'client'` queries the DHT without serving it (members, browsers);
   * `'server'` also answers queries and stores records (relays).
   *
   * @default 'client'
   */
  dht?: 'client' | 'server'

  /**
   * The DHT protocol id. relaymesh runs its own DHT, separate from the public
   * IPFS one.
   *
   * @default '/relaymesh/kad/1.0.0'
   */
  dhtProtocol?: string

  /**
   * STUN/TURN servers for WebRTC, used besides those the relays hand out
   * (see `relayIceServers`). None by default: relaymesh never contacts a
   * third party unless told to.
   *
   * @default []
   */
  iceServers?: RTCIceServer[]

  /**
   * Use the ICE servers of the relays the node holds reservations on: each
   * relay is asked at each reservation and renewal (`/relaymesh/relay-info/1.0.0`), and
   * its servers (its own STUN server, TURN servers its operator configured)
   * are added to `iceServers` for every WebRTC connection while the relay is
   * held. `true` keeps a relay's servers only when each is on the host the
   * node is connected to the relay on or that of a `bootstrap` address of
   * the relay (never one the relay announces in the DHT); `'any-host'` also
   * takes servers on other hosts;
   * `false` asks no relay. See `iceServers` in the `relays` options for the
   * bounds.
   *
   * @default true
   */
  relayIceServers?: boolean | 'any-host'

  /**
   * Extra `RTCConfiguration` for every peer connection, merged over
   * `{ iceServers }`. In Node it is passed to node-datachannel, which also
   * accepts `bindAddress` (for example `'127.0.0.1'`), `portRangeBegin` and
   * `portRangeEnd`.
   */
  rtcConfiguration?: RTCConfiguration & Record<string, unknown>

  /**
   * Per-source inbound connection limit. Relayed and WebRTC connections are
   * counted per remote peer, others per IP, replacing libp2p's per-IP limit
   * (which counts every relayed peer as the relay's IP). A peer's connections
   * whose handshake completed count toward `completedPerSource` instead, so a
   * peer redialing at once is not refused.
   *
   * @default { perSource: 5, completedPerSource: 20, duration: 1 }
   */
  inboundConnectionLimit?: InboundConnectionLimitInit

  /**
   * Dial private, loopback and link-local addresses on every host. By default
   * the node dials them only on the hosts of its `bootstrap` addresses (a
   * relay on the LAN or on 127.0.0.1): an address a remote peer hands out (a
   * member record, a DHT entry) cannot make it connect to a service on its
   * own machine or network. Set it for a room whose members or relays are on
   * a LAN under addresses other than the bootstrap relay's. A
   * `denyDialMultiaddr` in `libp2p.connectionGater` is asked as well.
   *
   * In browsers `ws` (not `wss`) is also dialed only on the bootstrap hosts,
   * as a browser's libp2p does by default.
   *
   * @default false
   */
  dialPrivateAddresses?: boolean

  /**
   * Any libp2p option, applied over relaymesh's composition. `services` are
   * added to (or replace, by name) relaymesh's; `connectionManager`,
   * `connectionMonitor`, `transportManager` and `addresses` are merged;
   * everything else replaces relaymesh's value.
   */
  libp2p?: Libp2pOptions<T>
}

/**
 * What differs between environments.
 */
export interface EnvironmentTransports {
  transports: NonNullable<Libp2pOptions['transports']>
  /** refuse `ws` on hosts other than the bootstrap ones (browsers) */
  denyInsecureWebSockets?: boolean
  /** resolves DNS names, so names of private IPs are not dialed (Node) */
  resolveHost?(name: string): Promise<string[]>
}

/**
 * The transports of an environment, given the `rtcConfiguration` its WebRTC
 * transport must use (a function: it is read for every peer connection).
 */
export type EnvironmentTransportsFactory = (rtcConfiguration: () => RTCConfiguration) => EnvironmentTransports

/**
 * Builds the libp2p options of a relaymesh node. Used by `node.ts` and
 * `node.browser.ts`, which supply the transports of their environment.
 */
export function meshNodeOptions <T extends ServiceMap> (init: MeshNodeInit<T>, envFactory: EnvironmentTransportsFactory): Libp2pOptions<RelaymeshServices & T> {
  const bootstrap = (init.bootstrap ?? []).map(addr => multiaddr(addr.toString()))
  // the relays service, once libp2p has made it: WebRTC reads its ICE servers per connection
  let relaysService: Relays | undefined
  const relaysFactory = relays({ iceServers: init.relayIceServers, ...init.relays, bootstrap })
  const env = envFactory(rtcConfiguration(init, () => relaysService?.iceServers ?? []))
  const listen = init.listen ?? ['/webrtc']
  const extra: Libp2pOptions<T> = init.libp2p ?? {}

  const options: Libp2pOptions<any> = {
    privateKey: init.privateKey,
    datastore: init.datastore,
    transports: env.transports,
    connectionEncrypters: [meshNoise()],
    streamMuxers: [meshYamux()],
    ...extra,
    addresses: {
      ...extra.addresses,
      listen: [
        ...listen,
        ...(extra.addresses?.listen ?? [])
      ]
    },
    connectionManager: {
      inboundConnectionThreshold: Number.MAX_SAFE_INTEGER,
      maxIncomingPendingConnections: DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS,
      ...extra.connectionManager
    },
    connectionMonitor: {
      ...extra.connectionMonitor,
      pingTimeout: {
        minTimeout: DEFAULT_CONNECTION_MONITOR_MIN_TIMEOUT,
        ...extra.connectionMonitor?.pingTimeout
      }
    },
    connectionGater: limitInboundConnections(filterDials(extra.connectionGater, {
      dialPrivateAddresses: init.dialPrivateAddresses,
      allowedHosts: bootstrap.map(dialHost).filter(host => host != null),
      denyInsecureWebSockets: env.denyInsecureWebSockets,
      resolveHost: env.resolveHost
    }), {
      perSource: DEFAULT_INBOUND_CONNECTIONS_PER_SOURCE,
      ...init.inboundConnectionLimit
    }),
    transportManager: {
      // a listen address that fails (a relay that is down) must not stop the node from starting
      faultTolerance: FaultTolerance.NO_FATAL,
      ...extra.transportManager
    },
    services: {
      identify: identify(),
      // the DHT and the relays service both ping; one stream each is not enough
      ping: ping({ maxOutboundStreams: 4 }),
      dht: relaymeshDHT(init.dht ?? 'client', { protocol: init.dhtProtocol }),
      // after ping, which it uses
      relays: (components: RelaysComponents) => (relaysService = relaysFactory(components)),
      mesh: mesh({ persist: init.datastore != null, ...init.mesh }),
      ...extra.services
    }
  }

  return options
}

/**
 * The RTCConfiguration for every peer connection: `rtcConfiguration`, with
 * its `iceServers` (or else `init.iceServers`) followed by those the held
 * relays handed out that are not among them, read anew for each connection.
 */
export function rtcConfiguration (init: MeshNodeInit<any>, relayIceServers: () => RTCIceServer[]): () => RTCConfiguration {
  const own = init.rtcConfiguration?.iceServers ?? init.iceServers ?? []

  return () => {
    // the page's /relaymesh.json and the relay may give the same ones
    const seen = new Set(own.map(server => JSON.stringify(server)))

    return {
      ...init.rtcConfiguration,
      iceServers: [...own, ...relayIceServers().filter(server => !seen.has(JSON.stringify(server)))]
    }
  }
}
