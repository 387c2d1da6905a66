import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { getNetConfig, getThinWaistAddresses, ipPortToMultiaddr } from '@libp2p/utils'
import { WebSockets, WebSocketsSecure } from '@multiformats/multiaddr-matcher'
import { TypedEventEmitter, setMaxListeners } from 'main-event'
import { WebSocketServer } from 'ws'
import { ipGroupOf } from '../server/utils.ts'
import { webSocketToMaConn } from './connection.ts'
import * as C from './constants.ts'
import { ProxyHeaderError, TooManyPendingSocketsError, UntrustedProxyError } from './errors.ts'
import { readPrelude } from './proxy-header.ts'
import { forwardedFor, plainAddress, trustedProxies } from './trust.ts'
import type { RelayWebSocketsComponents, RelayWebSocketsInit } from './index.ts'
import type { TrustedProxies } from './trust.ts'
import type { CounterGroup, Listener, ListenerEvents, Logger, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { TlsOptions } from 'node:tls'
import type { WebSocket } from 'ws'

/**
 * What the listener knows of a socket before its WebSocket upgrade.
 */
interface Client {
  socket: net.Socket
  /** the client's address: the socket's, or what a trusted proxy said */
  address: string
  port: number
  /** the address group (see `ipGroupOf`) its pending-socket count is kept under, if any */
  countedAs?: string
  /** whether the socket's peer is a trusted proxy */
  viaTrusted: boolean
  /** whether a PROXY header gave the address */
  proxied: boolean
  timer: ReturnType<typeof setTimeout>
  upgraded: boolean
}

/** the http(s) servers see sockets by this key, a TLS socket included */
function keyOf (socket: net.Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`
}

export interface RelayWebSocketListenerInit extends RelayWebSocketsInit {
  upgrader: Upgrader
}

/**
 * A WebSocket listener with bounds for the public internet: a frame size
 * limit, an upgrade deadline, an idle timeout, caps on sockets not yet
 * upgraded (per client address and in total), and client addresses from
 * trusted proxies (PROXY protocol v1/v2, `X-Forwarded-For`). It hands libp2p
 * the same kind of connection as @libp2p/websockets' listener.
 */
export class RelayWebSocketListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private readonly log: Logger
  private readonly components: RelayWebSocketsComponents
  private readonly init: RelayWebSocketListenerInit
  private readonly server: net.Server
  private readonly wsServer: WebSocketServer
  private readonly trusted: TrustedProxies
  private readonly sockets = new Set<net.Socket>()
  private readonly clients = new Map<string, Client>()
  private readonly pendingPerIp = new Map<string, number>()
  private readonly shutdownController = new AbortController()
  private readonly events?: CounterGroup
  private readonly maxPending: number
  private readonly maxPendingPerIp: number
  private http?: http.Server
  private https?: https.Server
  private listeningMultiaddr?: Multiaddr
  private pending = 0

  constructor (components: RelayWebSocketsComponents, init: RelayWebSocketListenerInit) {
    super()
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('relaymesh:relay:websockets')
    this.trusted = trustedProxies(init.trustProxy ?? [])
    this.maxPending = init.maxPendingSockets ?? C.DEFAULT_MAX_PENDING_SOCKETS
    this.maxPendingPerIp = init.maxPendingSocketsPerIp ?? C.DEFAULT_MAX_PENDING_SOCKETS_PER_IP
    setMaxListeners(Infinity, this.shutdownController.signal)

    this.wsServer = new WebSocketServer({ noServer: true, maxPayload: init.maxFrameSize ?? C.DEFAULT_MAX_FRAME_SIZE })
    this.server = net.createServer({ pauseOnConnect: true }, socket => { this.onSocket(socket) })

    this.events = components.metrics?.registerCounterGroup('relaymesh_relay_websocket_events_total', {
      label: 'event',
      help: 'WebSocket listener sockets refused or closed early, by reason, and upgrades'
    })
    components.metrics?.registerMetricGroup('relaymesh_relay_websocket_sockets', {
      label: 'state',
      help: 'WebSocket listener sockets open now: all, and not yet upgraded',
      calculate: () => ({ open: this.sockets.size, pending: this.pending })
    })

    components.events.addEventListener('certificate:renew', this.onCertificateRenew)
  }

  private readonly onCertificateRenew = (evt: CustomEvent): void => {
    // new TLS connections use the renewed certificate, open ones keep theirs
    this.https?.setSecureContext(evt.detail as TlsOptions)
    this.log('TLS certificate renewed')
  }

  private count (event: string): void {
    this.events?.increment({ [event]: true })
  }

  private onSocket (socket: net.Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => { this.sockets.delete(socket) })
    socket.on('error', err => {
      this.log('socket error from %s - %e', socket.remoteAddress, err)
      socket.destroy()
    })

    const address = plainAddress(socket.remoteAddress ?? '')
    const viaTrusted = this.trusted.has(address)

    if (this.pending >= this.maxPending) {
      this.refuse(socket, 'refused_pending_total', new TooManyPendingSocketsError(`${this.pending} sockets are not yet upgraded`))
      return
    }

    const client: Client = {
      socket,
      address,
      port: socket.remotePort ?? 0,
      viaTrusted,
      proxied: false,
      upgraded: false,
      timer: setTimeout(() => {
        this.log('%s:%d did not complete a WebSocket upgrade in %d ms', client.address, client.port, this.upgradeTimeout)
        this.count('upgrade_timeout')
        socket.destroy()
      }, this.upgradeTimeout)
    }

    // a trusted proxy's sockets are counted under the client's address, once known
    if (!viaTrusted && !this.countPending(client, address)) {
      clearTimeout(client.timer)
      return
    }

    this.pending++
    const key = keyOf(socket)
    this.clients.set(key, client)
    socket.setTimeout(this.idleTimeout)
    socket.on('timeout', () => {
      this.log('%s:%d idle for %d ms', client.address, client.port, socket.timeout)
      this.count('idle_timeout')
      socket.destroy()
    })
    socket.once('close', () => {
      this.clients.delete(key)
      this.settle(client)
    })

    this.readPrelude(client, Buffer.alloc(0))
  }

  private get idleTimeout (): number {
    return this.init.idleTimeout ?? C.DEFAULT_IDLE_TIMEOUT
  }

  private get upgradeTimeout (): number {
    return this.init.upgradeTimeout ?? C.DEFAULT_UPGRADE_TIMEOUT
  }

  /**
   * Counts a pending socket under the group of `address` (an IPv6 address by
   * its /64, as every per-IP limit), or refuses it past the per-IP cap
   */
  private countPending (client: Client, address: string): boolean {
    const group = ipGroupOf(address) ?? address
    const count = this.pendingPerIp.get(group) ?? 0

    if (count >= this.maxPendingPerIp) {
      this.refuse(client.socket, 'refused_pending_per_ip', new TooManyPendingSocketsError(`${count} sockets from ${group} are not yet upgraded`))
      return false
    }

    this.pendingPerIp.set(group, count + 1)
    client.countedAs = group
    return true
  }

  /** the socket is upgraded or gone: it no longer counts as pending */
  private settle (client: Client): void {
    clearTimeout(client.timer)

    if (client.upgraded) {
      return
    }

    client.upgraded = true
    this.pending--

    if (client.countedAs != null) {
      const count = (this.pendingPerIp.get(client.countedAs) ?? 1) - 1

      if (count > 0) {
        this.pendingPerIp.set(client.countedAs, count)
      } else {
        this.pendingPerIp.delete(client.countedAs)
      }
    }
  }

  private refuse (socket: net.Socket, event: string, err: Error): void {
    this.log('refused %s:%d - %e', socket.remoteAddress, socket.remotePort, err)
    this.count(event)
    socket.destroy()
  }

  /** reads the first bytes: a PROXY header from a trusted proxy, then which server gets the socket */
  private readPrelude (client: Client, seen: Buffer): void {
    const { socket } = client
    const chunk: Buffer | null = socket.read()

    if (chunk == null) {
      socket.once('readable', () => { this.readPrelude(client, seen) })
      return
    }

    const bytes = seen.length === 0 ? chunk : Buffer.concat([seen, chunk])
    let rest = bytes

    if (!client.proxied) {
      let prelude

      try {
        prelude = readPrelude(bytes)
      } catch (err: any) {
        this.refuse(socket, client.viaTrusted ? 'proxy_malformed' : 'proxy_untrusted', client.viaTrusted ? err : new UntrustedProxyError(`PROXY header from ${client.address}, not a trusted proxy`))
        return
      }

      if (prelude.header === 'incomplete') {
        socket.once('readable', () => { this.readPrelude(client, bytes) })
        return
      }

      if (prelude.header !== 'none') {
        if (!client.viaTrusted) {
          this.refuse(socket, 'proxy_untrusted', new UntrustedProxyError(`PROXY header from ${client.address}, not a trusted proxy`))
          return
        }

        client.proxied = true

        if (prelude.address != null) {
          client.address = plainAddress(prelude.address)
          client.port = prelude.port ?? 0
        }

        if (!this.countPending(client, client.address)) {
          return
        }

        rest = bytes.subarray(prelude.length)
      }
    }

    if (rest.length === 0) {
      // the header came alone: wait for the client's first byte
      socket.once('readable', () => { this.readPrelude(client, rest) })
      return
    }

    // TLS starts with a byte outside printable ASCII, HTTP does not (as httpolyglot)
    const server = rest[0] < 32 || rest[0] >= 127 ? this.https : this.http

    if (server == null) {
      this.refuse(socket, 'wrong_protocol', new Error(`no listener for a connection starting with byte ${rest[0]}`))
      return
    }

    socket.unshift(rest)
    server.emit('connection', socket)
  }

  private onUpgrade (req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const client = this.clients.get(keyOf(req.socket))

    if (client == null) {
      socket.destroy()
      return
    }

    if (client.viaTrusted && !client.proxied) {
      const forwarded = forwardedFor(req.headers['x-forwarded-for'], this.trusted)

      if (forwarded != null) {
        client.address = forwarded
        client.port = 0

        // counted like a PROXY header's client, now that its address is known
        if (!this.countPending(client, forwarded)) {
          return
        }
      }
    }

    this.wsServer.handleUpgrade(req, socket, head, websocket => { this.onWebSocket(websocket, client) })
  }

  private onWebSocket (websocket: WebSocket, client: Client): void {
    this.settle(client)
    // ws turns the timeout of the socket it is given off (setTimeout(0)): on
    // /ws that is our raw socket, on /tls/ws the TLS socket above it; re-armed
    // so the idle timeout applies after the upgrade on both
    client.socket.setTimeout(this.idleTimeout)
    this.count('upgraded')
    websocket.on('error', (err: Error & { code?: string }) => {
      this.log('WebSocket from %s:%d failed - %e', client.address, client.port, err)

      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.count('frame_too_large')
      }

      websocket.terminate()
    })

    let remoteAddr: Multiaddr

    try {
      remoteAddr = ipPortToMultiaddr(client.address, client.port).encapsulate('/ws')
    } catch (err: any) {
      // an address a multiaddr cannot hold: never let a client's address end the process
      this.log.error('WebSocket from %s:%d has no multiaddr - %e', client.address, client.port, err)
      this.count('bad_address')
      websocket.terminate()
      return
    }

    const maConn = webSocketToMaConn({
      websocket,
      remoteAddr,
      log: this.components.logger.forComponent('relaymesh:relay:websockets:connection'),
      maxBufferedAmount: this.init.maxBufferedAmount,
      bufferedAmountPollInterval: this.init.bufferedAmountPollInterval
    })

    this.log('new inbound connection %a', maConn.remoteAddr)
    this.init.upgrader.upgradeInbound(maConn, { signal: this.shutdownController.signal })
      .catch(err => {
        this.log.error('inbound connection from %a failed to upgrade - %e', maConn.remoteAddr, err)
        maConn.abort(err)
      })
  }

  async listen (ma: Multiaddr): Promise<void> {
    const badRequest = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
      res.writeHead(400)
      res.end('Only WebSocket connections are supported')
    }

    if (WebSockets.exactMatch(ma)) {
      this.http = http.createServer(badRequest)
      this.http.on('upgrade', this.onUpgrade.bind(this))
    } else if (WebSocketsSecure.exactMatch(ma)) {
      this.https = https.createServer(this.init.https ?? {}, badRequest)
      this.https.on('upgrade', this.onUpgrade.bind(this))
      this.https.on('tlsClientError', (err, socket) => {
        this.log('TLS client error - %e', err)
        socket.destroy()
      })
    }

    const config = getNetConfig(ma)
    this.server.listen({ ...config, ipv6Only: config.type === 'ip6' })
    // once() rejects on 'error' (EADDRINUSE and the like)
    await once(this.server, 'listening')
    this.listeningMultiaddr = ma
    this.safeDispatchEvent('listening')
  }

  async close (): Promise<void> {
    this.components.events.removeEventListener('certificate:renew', this.onCertificateRenew)
    const closed = once(this.server, 'close')
    this.server.close()
    this.wsServer.close()
    this.http?.close()
    this.https?.close()
    this.shutdownController.abort()

    for (const socket of this.sockets) {
      socket.destroy()
    }

    await closed
    this.safeDispatchEvent('close')
  }

  getAddrs (): Multiaddr[] {
    const address = this.server.address()

    if (address == null || typeof address === 'string' || this.listeningMultiaddr == null) {
      return []
    }

    return getThinWaistAddresses(this.listeningMultiaddr, address.port)
      .map(ma => ma.encapsulate(this.https != null ? '/tls/ws' : '/ws'))
  }

  updateAnnounceAddrs (): void {}
}
