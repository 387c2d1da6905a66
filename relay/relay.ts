import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { DEFAULT_DHT_PROTOCOL, relaymeshDHT } from '../src/relays/index.ts'
import { RelayAdvertiser } from './advertise.ts'
import { linearConnectionList } from './connection-list.ts'
import { withProviderQuotas } from './dht-quotas.ts'
import { CONNECTION_MONITOR_MIN_PING_TIMEOUT, CONNECTION_MONITOR_PING_INTERVAL, DEFAULT_RELAY_OPTIONS, PROVIDE_VALIDITY, REPROVIDE_INTERVAL, REPROVIDE_THRESHOLD } from './constants.ts'
import { ListenError, UsageError } from './errors.ts'
import { metricsRoute, pageRoute, startHttpServer } from './http-server.ts'
import { loadOrCreateKey } from './key-file.ts'
import { relayServer } from './server/index.ts'
import { meshNoise, meshYamux } from '../src/connection/index.ts'
import type { RelayServer } from './server/index.ts'
import { mintTurnCredentials, needsTurnCredentials, relayIceServers } from './ice.ts'
import { relayInfo } from './relay-info.ts'
import { startStunServer } from './stun/index.ts'
import { readTlsFiles, tlsRenewer } from './tls.ts'
import { relayWebSockets, trustedProxies } from './websockets/index.ts'
import type { HttpServer } from './http-server.ts'
import type { StunServer, StunServerInit } from './stun/index.ts'
import type { TlsRenewer } from './tls.ts'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'

/**
 * Options of the relay program. Durations are in seconds, sizes in bytes; each
 * matches a command-line flag (see `args.ts`).
 */
export interface RelayProgramInit {
  host: string
  port: number
  /** TCP port; -1 = no TCP listener (`--tcp-port off`) */
  tcpPort: number
  announce: string[]
  keyFile: string
  maxReservations: number
  maxReservationsPerIp: number
  reservationTtl: number
  /** 0 = no limit */
  circuitDuration: number
  /** 0 = no limit */
  circuitData: number
  /** new reservations per peer per minute */
  reservationRate: number
  maxCircuitsPerPeer: number
  /** circuits open at once across all peers */
  maxCircuits: number
  /** circuits open at once from or to one IP (IPv6: one /64) */
  maxCircuitsPerIp: number
  /** bytes per second all circuits together may forward; 0 = no budget */
  maxRelayedBytesPerSecond: number
  maxConnections: number
  inboundPerIp: number
  maxPending: number
  /** largest WebSocket message in bytes */
  wsMaxFrame: number
  /** seconds from accept to a completed WebSocket upgrade */
  wsUpgradeTimeout: number
  /** seconds without a byte either way after which a WebSocket port socket is closed */
  wsIdleTimeout: number
  /** sockets on the WebSocket port not yet upgraded, at once */
  wsMaxUnupgraded: number
  /** the same, from one client address */
  wsMaxUnupgradedPerIp: number
  /**
   * CIDRs of reverse proxies whose PROXY protocol header or X-Forwarded-For
   * gives the client's address (for every per-IP limit and metric)
   */
  trustProxy: string[]
  bootstrap: string[]
  /** provider records the DHT server keeps for other peers, in all */
  dhtMaxProviders: number
  /** keys one peer may be a DHT provider of at once */
  dhtMaxProvidersPerPeer: number
  /** DHT provider records kept for providers of one IP (IPv6: one /64) */
  dhtMaxProvidersPerIp: number
  /** providers kept per DHT key */
  dhtMaxProvidersPerKey: number
  /** providers kept per DHT key from one IP (IPv6: one /64) */
  dhtMaxProvidersPerKeyPerIp: number
  /** how long a provider record of another peer is kept, in seconds */
  dhtProviderTtl: number
  /** provider records one peer may store per minute */
  dhtProvideRate: number
  /** namespaces whose CIDs the relay provides in the DHT */
  namespaces: string[]
  /** 0 = off */
  metricsPort: number
  /** the interface the metrics and health endpoint listens on (not `host`: metrics are not public unless asked for) */
  metricsHost: string
  /** port for the chat page and `/relaymesh.json`; 0 = any free port, -1 = off */
  httpPort: number
  /** the folder of the page served on `httpPort` (default: the browser chat example's build, see {@link findChatPage}) */
  httpRoot?: string
  /**
   * A PEM certificate chain file: with `tlsKey`, `port` serves WebSockets
   * over TLS (`/tls/ws`) and `httpPort` serves https; `reloadTls()` reads
   * both files again
   */
  tlsCert?: string
  /** the PEM private key file of `tlsCert` */
  tlsKey?: string
  /** UDP port of the STUN server, on `host`; 0 = any free port, -1 = no STUN server */
  stunPort: number
  /** the host clients reach the STUN server on (default: see `stunHost` in `ice.ts`) */
  stunAnnounce?: string
  /** STUN/TURN servers handed out besides the relay's own STUN server */
  iceServers: RTCIceServer[]
  /**
   * A file holding coturn's `static-auth-secret`: TURN servers in
   * `iceServers` without credentials are handed out with time-limited ones
   */
  turnSecretFile?: string
  /** the STUN server's rate limits (no flag: tests lower them) */
  stun?: Pick<StunServerInit, 'ratePerIp' | 'rate' | 'maxSources'>
  /** kad-dht's re-provide settings, in ms (no flag: tests shorten them) */
  reprovide?: { interval?: number, threshold?: number, validity?: number }
  /** how the first provide is retried, in ms (no flag: tests shorten them) */
  advertise?: { attemptTimeout?: number, retryInterval?: number }
  /**
   * ms between the connection monitor's pings of each connection (no flag:
   * tests shorten it; default CONNECTION_MONITOR_PING_INTERVAL)
   */
  pingInterval?: number
}

/**
 * A running relay program.
 */
export interface RelayProgram {
  node: Libp2p<{ dht: KadDHT, tls: TlsRenewer }>
  /** the namespace CIDs the relay provides in the DHT */
  namespaceCids: CID[]
  /** the addresses clients should use, each ending in `/p2p/<peer id>` */
  multiaddrs: Multiaddr[]
  /** the port of the metrics and health endpoint, when it is on */
  metricsPort?: number
  /** the port of the chat page and `/relaymesh.json`, when it is on */
  httpPort?: number
  /** whether `port` and `httpPort` serve TLS */
  tls: boolean
  /** the STUN server, when it is on */
  stun?: StunServer
  /** the ICE servers handed out to clients (relay-info protocol, `/relaymesh.json`) */
  iceServers: RTCIceServer[]
  /**
   * Reads `tlsCert` and `tlsKey` again and serves new connections with them
   * (certificate renewals; the relay program does it on SIGHUP). Connections
   * already open keep theirs.
   *
   * @throws {UsageError} when the files cannot be read or do not make a pair; the old certificate stays
   */
  reloadTls(): Promise<void>
  stop(): Promise<void>
}

/**
 * The browser chat page this program serves by default: in the repository
 * the browser chat example's build (`examples/browser-chat/dist/`), from
 * source or from `dist/`; in the installed `relaymesh-relay` package the
 * built page it ships (`page/`, beside its `dist/`); undefined when neither
 * is there.
 */
export function findChatPage (): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  const ancestors = [here, dirname(here), dirname(dirname(here)), dirname(dirname(dirname(here)))]

  // the repository's build first: a laid-out relay/page there may be stale
  return [
    ...ancestors.map(dir => join(dir, 'examples', 'browser-chat', 'dist')),
    join(dirname(here), 'page')
  ].find(root => existsSync(join(root, 'index.html')))
}

function pageRoot (init: RelayProgramInit): string {
  const root = init.httpRoot != null ? resolve(init.httpRoot) : findChatPage()

  if (root == null) {
    throw new UsageError('--http-port: the chat page is not built; run `npm run build:chat` (or pass --http-root <folder>)')
  }

  if (!existsSync(join(root, 'index.html'))) {
    throw new UsageError(`--http-root: ${root} has no index.html`)
  }

  return root
}

function ipProtocol (host: string): string {
  return host.includes(':') ? 'ip6' : 'ip4'
}

/**
 * Starts a relay: WebSocket (and TCP) listeners, a circuit relay v2 server
 * with explicit limits, relaymesh's DHT in server mode, identify and ping,
 * and optionally a Prometheus endpoint.
 */
export async function startRelayProgram (options: Partial<RelayProgramInit> = {}): Promise<RelayProgram> {
  const init: RelayProgramInit = { ...DEFAULT_RELAY_OPTIONS, announce: [], bootstrap: [], trustProxy: [], namespaces: [DEFAULT_RELAY_OPTIONS.namespace], iceServers: [], ...options }
  // refuse a hand-out clients would refuse before anything listens
  let iceServers = relayIceServers(init, init.stunPort >= 0 ? 0 : undefined)
  const turnSecret = await readTurnSecret(init)
  // what anyone may see (the page's /relaymesh.json): no minted TURN credentials
  const publicIceServers = (): RTCIceServer[] => iceServers.filter(server => !needsTurnCredentials(server))
  const root = init.httpPort >= 0 ? pageRoot(init) : undefined
  const privateKey = await loadOrCreateKey(init.keyFile)
  const registry = init.metricsPort > 0 ? new Registry() : undefined
  if ((init.tlsCert == null) !== (init.tlsKey == null)) {
    throw new UsageError('--tls-cert and --tls-key go together')
  }

  const tls = init.tlsCert != null && init.tlsKey != null ? await readTlsFiles(init.tlsCert, init.tlsKey) : undefined
  const ip = ipProtocol(init.host)
  const listen = [`/${ip}/${init.host}/tcp/${init.port}/${tls != null ? 'tls/ws' : 'ws'}`]

  if (init.tcpPort >= 0) {
    listen.push(`/${ip}/${init.host}/tcp/${init.tcpPort}`)
  }

  const bootstrap = init.bootstrap.map(addr => multiaddr(addr))
  let node: Libp2p<{ dht: KadDHT, tls: TlsRenewer, relay: RelayServer }>

  try {
    node = await createLibp2p({
      privateKey,
      // started below, once the STUN port is known
      start: false,
      addresses: {
        listen,
        announce: init.announce
      },
      transports: [relayWebSockets({
        https: tls != null ? { cert: tls.cert, key: tls.key } : undefined,
        maxFrameSize: init.wsMaxFrame,
        upgradeTimeout: init.wsUpgradeTimeout * 1000,
        idleTimeout: init.wsIdleTimeout * 1000,
        maxPendingSockets: init.wsMaxUnupgraded,
        maxPendingSocketsPerIp: init.wsMaxUnupgradedPerIp,
        trustProxy: init.trustProxy
      }), tcp()],
      connectionEncrypters: [meshNoise()],
      streamMuxers: [meshYamux()],
      connectionManager: {
        maxConnections: init.maxConnections,
        inboundConnectionThreshold: init.inboundPerIp,
        maxIncomingPendingConnections: init.maxPending
      },
      connectionMonitor: { pingInterval: init.pingInterval ?? CONNECTION_MONITOR_PING_INTERVAL, pingTimeout: { minTimeout: CONNECTION_MONITOR_MIN_PING_TIMEOUT } },
      metrics: registry != null ? prometheusMetrics({ registry, preserveExistingMetrics: true }) : undefined,
      services: {
        identify: identify(),
        tls: tlsRenewer(),
        // clients measure relays with a few pings while their DHT pings too;
        // outbound: after an event loop stall longer than the monitor's
        // interval its next ping starts while the last is open, and libp2p's
        // limit of 1 made that a ping failure that aborted the connection
        ping: ping({ maxInboundStreams: 8, maxOutboundStreams: 4 }),
        dht: withProviderQuotas(relaymeshDHT('server', {
          // a lone relay's queries end at once instead of waiting for peers,
          // which also kept stop() waiting ~10 s; the advertiser retries
          allowQueryWithZeroPeers: true,
          // kad-dht re-provides our namespace records before they expire
          reprovide: {
            validity: PROVIDE_VALIDITY,
            threshold: REPROVIDE_THRESHOLD,
            interval: REPROVIDE_INTERVAL,
            ...init.reprovide
          }
        }), {
          maxProviders: init.dhtMaxProviders,
          maxProvidersPerPeer: init.dhtMaxProvidersPerPeer,
          maxProvidersPerIp: init.dhtMaxProvidersPerIp,
          maxProvidersPerKey: init.dhtMaxProvidersPerKey,
          maxProvidersPerKeyPerIp: init.dhtMaxProvidersPerKeyPerIp,
          providerTtl: init.dhtProviderTtl * 1000,
          provideRate: init.dhtProvideRate
        }),
        relay: relayServer({
          maxReservations: init.maxReservations,
          maxReservationsPerIp: init.maxReservationsPerIp,
          maxCircuitsPerPeer: init.maxCircuitsPerPeer,
          maxCircuits: init.maxCircuits,
          maxCircuitsPerIp: init.maxCircuitsPerIp,
          maxRelayedBytesPerSecond: init.maxRelayedBytesPerSecond,
          reservationRateLimit: init.reservationRate,
          reservationRateLimitWindow: 60_000,
          reservationTtl: init.reservationTtl * 1000,
          // 0 = no limit of that kind
          defaultDurationLimit: init.circuitDuration * 1000,
          defaultDataLimit: BigInt(init.circuitData)
        }),
        relayInfo: relayInfo({ iceServers: peer => handOut(peer) })
      }
    })
  } catch (err: any) {
    throw toListenError(err, init)
  }

  linearConnectionList(node)
  let stun: StunServer | undefined

  try {
    if (init.stunPort >= 0) {
      stun = await startStunServer({ ...init.stun, host: init.host, port: init.stunPort, logger: node.logger, metrics: node.metrics })
      iceServers = relayIceServers(init, stun.port)
    }

    await node.start()
  } catch (err: any) {
    await stun?.stop()
    await node.stop()
    throw toListenError(err, init)
  }

  const log = node.logger.forComponent('relaymesh:relay')
  const iceLog = node.logger.forComponent('relaymesh:relay:ice')

  /**
   * The ICE servers for `peer` on relay-info: TURN credentials are minted
   * only for a peer holding a reservation, valid until the reservation
   * expires plus TURN_CREDENTIAL_GRACE (members ask again at each renewal);
   * other peers get the public servers only
   */
  function handOut (peer: PeerId): RTCIceServer[] {
    if (turnSecret == null) {
      return iceServers
    }

    const reservation = node.services.relay.getReservation(peer)
    const now = Date.now()

    if (reservation == null || reservation.expiry.getTime() <= now) {
      iceLog.trace('%p holds no reservation: no minted TURN credentials', peer)
      return publicIceServers()
    }

    return mintTurnCredentials(iceServers, turnSecret, Math.ceil((reservation.expiry.getTime() - now) / 1000) + TURN_CREDENTIAL_GRACE, now)
  }
  let running = true
  let metricsServer: HttpServer | undefined
  let pageServer: HttpServer | undefined
  const advertiser = new RelayAdvertiser({ dht: node.services.dht, registrar: node, logger: node.logger }, {
    ...init.advertise,
    namespaces: init.namespaces,
    protocol: DEFAULT_DHT_PROTOCOL
  })

  try {
    if (registry != null) {
      metricsServer = await startHttpServer(init.metricsHost, init.metricsPort, 'metrics', metricsRoute(registry, () => running))
    }

    if (root != null) {
      pageServer = await startHttpServer(init.host, init.httpPort, 'page', pageRoute(root, () => ({
        peerId: node.peerId.toString(),
        multiaddrs: node.getMultiaddrs().map(ma => ma.toString()),
        iceServers: publicIceServers()
      })), tls, { trustProxy: trustedProxies(init.trustProxy) })
    }

    await advertiser.start()
  } catch (err) {
    await metricsServer?.stop()
    await pageServer?.stop()
    await stun?.stop()
    await node.stop()
    throw err
  }

  // provide in the background: with no DHT peer yet it waits for one
  advertiser.afterStart()

  // join the DHT through the other relays; one that is down is not fatal
  await Promise.all(bootstrap.map(async addr => {
    try {
      await node.dial(addr, { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      log.error('could not reach bootstrap relay %a - %e', addr, err)
    }
  }))

  return {
    node,
    multiaddrs: node.getMultiaddrs(),
    namespaceCids: advertiser.cids,
    metricsPort: metricsServer?.port,
    httpPort: pageServer?.port,
    tls: tls != null,
    stun,
    iceServers,
    reloadTls: async () => {
      if (init.tlsCert == null || init.tlsKey == null) {
        return
      }

      const pem = await readTlsFiles(init.tlsCert, init.tlsKey)
      // the WebSocket listener's own renewal path (as with libp2p's auto-tls)
      node.services.tls.renew(pem)
      pageServer?.setCertificate?.(pem)
      log('reloaded the TLS certificate from %s', init.tlsCert)
    },
    stop: async () => {
      running = false
      await advertiser.stop()
      await metricsServer?.stop()
      await pageServer?.stop()
      await stun?.stop()
      await node.stop()
    }
  }
}

/**
 * How long minted TURN credentials outlive the reservation they were minted
 * for, in seconds: coturn's default allocation lifetime, so an allocation made
 * just before the reservation's end can be refreshed once
 */
const TURN_CREDENTIAL_GRACE = 10 * 60

async function readTurnSecret (init: RelayProgramInit): Promise<string | undefined> {
  if (init.turnSecretFile == null) {
    if (init.iceServers.some(needsTurnCredentials)) {
      throw new UsageError('--ice-server: TURN server without a username and credential (turn:user:password@host, or --turn-secret-file)')
    }

    return undefined
  }

  let secret: string

  try {
    secret = (await readFile(init.turnSecretFile, 'utf8')).trim()
  } catch (err: any) {
    throw new UsageError(`--turn-secret-file: cannot read ${init.turnSecretFile}: ${err.code ?? err.message}`)
  }

  if (secret.length === 0 || secret.includes('\n')) {
    throw new UsageError(`--turn-secret-file: ${init.turnSecretFile} must hold the secret on one line`)
  }

  return secret
}

function toListenError (err: any, init: RelayProgramInit): Error {
  const text = `${err?.code ?? ''} ${err?.message ?? ''} ${err?.cause?.code ?? ''} ${(err?.errors ?? []).map((e: any) => `${e.code ?? ''} ${e.message ?? ''}`).join(' ')}`

  if (text.includes('EADDRINUSE')) {
    const ports = [init.port, init.tcpPort].filter(p => p > 0).join(' or ')
    return new ListenError(`port ${ports} on ${init.host} is already in use`)
  }

  if (text.includes('EADDRNOTAVAIL') || text.includes('EACCES')) {
    return new ListenError(`cannot listen on ${init.host}: ${err.message}`)
  }

  return err
}
