import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { extname, join, normalize, sep } from 'node:path'
import { DEFAULT_HTTP_HEADERS_TIMEOUT, DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT, DEFAULT_HTTP_MAX_CONNECTIONS, DEFAULT_HTTP_MAX_CONNECTIONS_PER_IP, DEFAULT_HTTP_REQUEST_TIMEOUT, PAGE_CONTENT_SECURITY_POLICY } from './constants.ts'
import { ListenError } from './errors.ts'
import { ipGroupOf } from './server/utils.ts'
import type { TlsPem } from './tls.ts'
import type { TrustedProxies } from './websockets/trust.ts'
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Registry } from 'prom-client'

/**
 * A running HTTP endpoint of the relay program.
 */
export interface HttpServer {
  /** The port it listens on */
  port: number
  /** serves https with this certificate from the next connection on (servers started with TLS) */
  setCertificate?(pem: TlsPem): void
  /** how many connections are open now */
  connections(): Promise<number>
  stop(): Promise<void>
}

/**
 * Limits of an HTTP endpoint: a client that sends nothing, or half a request,
 * is disconnected, and connections past the cap are closed as they arrive
 */
export interface HttpServerLimits {
  /**
   * Connections open at once; more are closed on arrival
   *
   * @default 256
   */
  maxConnections?: number

  /**
   * Connections open at once from one IP (an IPv6 /64 counts as one); more
   * from it are closed on arrival, so one client cannot take every slot of
   * `maxConnections`. Trusted proxies (`trustProxy`) are not counted per IP.
   *
   * @default 32
   */
  maxConnectionsPerIp?: number

  /**
   * Reverse proxies (`--trust-proxy`): all clients behind one arrive from
   * its address, so it is held to `maxConnections` only
   */
  trustProxy?: TrustedProxies

  /**
   * A request's headers must arrive within this many ms
   *
   * @default 10_000
   */
  headersTimeout?: number

  /**
   * A whole request must arrive within this many ms
   *
   * @default 30_000
   */
  requestTimeout?: number

  /**
   * An idle kept-alive connection is closed after this many ms
   *
   * @default 5_000
   */
  keepAliveTimeout?: number
}

/**
 * Answers a GET or HEAD request for `path`; returns false when it has
 * nothing there (the server answers 404).
 */
export type HttpRoute = (path: string, req: IncomingMessage, res: ServerResponse) => boolean

/**
 * Listens on `host:port` and answers GET and HEAD with `route` (405 for other
 * methods, 404 where the route has nothing); over https with `tls`. `what`
 * names the endpoint in a {@link ListenError}. Every answer says
 * `X-Content-Type-Options: nosniff`.
 */
export async function startHttpServer (host: string, port: number, what: string, route: HttpRoute, tls?: TlsPem, limits: HttpServerLimits = {}): Promise<HttpServer> {
  const headersTimeout = limits.headersTimeout ?? DEFAULT_HTTP_HEADERS_TIMEOUT
  const options = {
    headersTimeout,
    requestTimeout: Math.max(limits.requestTimeout ?? DEFAULT_HTTP_REQUEST_TIMEOUT, headersTimeout),
    keepAliveTimeout: limits.keepAliveTimeout ?? DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT,
    // Node checks the two timeouts above only this often (default 30 s)
    connectionsCheckingInterval: Math.min(1000, headersTimeout)
  }
  const handler: RequestListener = (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    res.setHeader('x-content-type-options', 'nosniff')

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
    } else if (!route(path, req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  }
  // the headers timeout starts after the TLS handshake, whose own (120 s by
  // default) would otherwise let silent sockets hold the connection slots
  const secure = tls != null ? createHttpsServer({ ...options, handshakeTimeout: headersTimeout, cert: tls.cert, key: tls.key }, handler) : undefined
  const server: Server = secure ?? createServer(options, handler)
  // past the cap Node closes a new connection at once
  server.maxConnections = limits.maxConnections ?? DEFAULT_HTTP_MAX_CONNECTIONS
  limitConnectionsPerIp(server, limits.maxConnectionsPerIp ?? DEFAULT_HTTP_MAX_CONNECTIONS_PER_IP, limits.trustProxy)

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new ListenError(err.code === 'EADDRINUSE'
        ? `${what} port ${port} on ${host} is already in use`
        : `cannot listen for ${what} on ${host}:${port}: ${err.code ?? err.message}`))
    })
    server.listen(port, host, resolve)
  })

  const address = server.address()

  return {
    port: typeof address === 'object' && address != null ? address.port : port,
    setCertificate: secure == null ? undefined : (pem) => { secure.setSecureContext({ cert: pem.cert, key: pem.key }) },
    connections: async () => new Promise((resolve, reject) => {
      server.getConnections((err, count) => { err != null ? reject(err) : resolve(count) })
    }),
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

/**
 * Closes a new connection from an IP group (see `ipGroupOf`) that already
 * has `max` open; the count of a group is dropped when its last connection
 * closes, so the map holds at most one entry per open connection
 */
function limitConnectionsPerIp (server: Server, max: number, trusted?: TrustedProxies): void {
  const open = new Map<string, number>()

  // for https, 'connection' is the TCP socket, before the TLS handshake
  server.on('connection', (socket: Socket) => {
    const group = ipGroupOf(socket.remoteAddress)

    if (group == null || trusted?.has(socket.remoteAddress) === true) {
      return
    }

    const count = open.get(group) ?? 0

    if (count >= max) {
      socket.destroy()
      return
    }

    open.set(group, count + 1)
    socket.once('close', () => {
      const left = (open.get(group) ?? 1) - 1

      if (left > 0) {
        open.set(group, left)
      } else {
        open.delete(group)
      }
    })
  })
}

/**
 * Prometheus text at `/metrics`, and `/health`: 200 while `isRunning()` is
 * true, 503 otherwise.
 */
export function metricsRoute (registry: Registry, isRunning: () => boolean): HttpRoute {
  return (path, _req, res) => {
    if (path === '/health') {
      const ok = isRunning()
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'stopping\n')
      return true
    }

    if (path === '/metrics') {
      registry.metrics().then(text => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(text)
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`)
      })
      return true
    }

    return false
  }
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon'
}

/**
 * What a page served by the relay learns at `/relaymesh.json`: the relay to
 * bootstrap from, and the ICE servers it hands out (its STUN server, TURN).
 */
export interface RelayInfo {
  peerId: string
  multiaddrs: string[]
  iceServers: RTCIceServer[]
}

/**
 * The files under `root` (`/` is `index.html`) and, given `info`,
 * `/relaymesh.json` (the relay's peer id and addresses, for a page to
 * bootstrap from). Paths that leave `root` are not served, through `..` or
 * through a symbolic link: a link is followed only to a file inside `root`.
 * HTML files come with a Content-Security-Policy that lets a page load its
 * own scripts and open WebSockets to any relay.
 */
export function pageRoute (root: string, info?: () => RelayInfo): HttpRoute {
  return (path, req, res) => {
    if (path === '/relaymesh.json' && info != null) {
      res.writeHead(200, { 'content-type': CONTENT_TYPES['.json'], 'cache-control': 'no-store' }).end(JSON.stringify(info()))
      return true
    }

    let file: string

    try {
      file = normalize(join(root, decodeURIComponent(path === '/' ? '/index.html' : path)))
    } catch {
      return false
    }

    if (!file.startsWith(normalize(root) + sep)) {
      return false
    }

    serveFile(root, file, req, res)
    return true
  }
}

function serveFile (root: string, file: string, req: IncomingMessage, res: ServerResponse): void {
  const notFound = (): void => {
    if (!res.headersSent) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    } else {
      res.destroy()
    }
  }

  Promise.all([realpath(root), realpath(file)])
    .then(async ([realRoot, real]) => {
      // a symbolic link (of the file or a folder on the way) that leads out of root
      if (!real.startsWith(realRoot + sep)) {
        throw new Error('outside the root')
      }

      const stats = await stat(real)

      if (!stats.isFile()) {
        throw new Error('not a file')
      }

      const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream'
      res.writeHead(200, {
        'content-type': type,
        'content-length': stats.size,
        'cache-control': 'no-cache',
        ...(type.startsWith('text/html') ? { 'content-security-policy': PAGE_CONTENT_SECURITY_POLICY } : {})
      })

      if (req.method === 'HEAD' || stats.size === 0) {
        res.end()
        return
      }

      // streamed: a large file is never held in memory whole
      const body = createReadStream(real, { start: 0, end: Math.max(stats.size - 1, 0) })
      body.on('error', () => { res.destroy() })
      res.on('close', () => { body.destroy() })
      body.pipe(res)
    })
    .catch(notFound)
}
