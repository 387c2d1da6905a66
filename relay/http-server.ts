import { readFile, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { extname, join, normalize, sep } from 'node:path'
import { ListenError } from './errors.ts'
import type { TlsPem } from './tls.ts'
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'

/**
 * A running HTTP endpoint of the relay program.
 */
export interface HttpServer {
  /** The port it listens on */
  port: number
  /** serves https with this certificate from the next connection on (servers started with TLS) */
  setCertificate?(pem: TlsPem): void
  stop(): Promise<void>
}

/**
 * Answers a GET or HEAD request for `path`; returns false when it has
 * nothing there (the server answers 404).
 */
export type HttpRoute = (path: string, req: IncomingMessage, res: ServerResponse) => boolean

/**
 * Listens on `host:port` and answers GET and HEAD with `route` (405 for other
 * methods, 404 where the route has nothing); over https with `tls`. `what`
 * names the endpoint in a {@link ListenError}.
 */
export async function startHttpServer (host: string, port: number, what: string, route: HttpRoute, tls?: TlsPem): Promise<HttpServer> {
  const handler: RequestListener = (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
    } else if (!route(path, req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  }
  const secure = tls != null ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : undefined
  const server: Server = secure ?? createServer(handler)

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
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
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
 * bootstrap from.
 */
export interface RelayInfo {
  peerId: string
  multiaddrs: string[]
}

/**
 * The files under `root` (`/` is `index.html`) and, given `info`,
 * `/relaymesh.json` (the relay's peer id and addresses, for a page to
 * bootstrap from). Paths that leave `root` are not served.
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

    serveFile(file, req, res)
    return true
  }
}

function serveFile (file: string, req: IncomingMessage, res: ServerResponse): void {
  stat(file)
    .then(async stats => {
      if (!stats.isFile()) {
        throw new Error('not a file')
      }

      const body = await readFile(file)
      res.writeHead(200, {
        'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': body.byteLength,
        'cache-control': 'no-cache'
      }).end(req.method === 'HEAD' ? undefined : body)
    })
    .catch(() => {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    })
}
