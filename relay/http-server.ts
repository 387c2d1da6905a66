import { createServer } from 'node:http'
import { ListenError } from './errors.ts'
import type { Server } from 'node:http'
import type { Registry } from 'prom-client'

/**
 * A running metrics and health endpoint.
 */
export interface MetricsServer {
  /** The port it listens on */
  port: number
  stop(): Promise<void>
}

/**
 * Serves Prometheus text at `/metrics` and `/health` (200 while `isRunning()`
 * is true, 503 otherwise) on `host:port`.
 */
export async function startMetricsServer (host: string, port: number, registry: Registry, isRunning: () => boolean): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
    } else if (path === '/health') {
      const ok = isRunning()
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'stopping\n')
    } else if (path === '/metrics') {
      registry.metrics().then(text => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(text)
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`)
      })
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new ListenError(err.code === 'EADDRINUSE'
        ? `metrics port ${port} on ${host} is already in use`
        : `cannot listen for metrics on ${host}:${port}: ${err.code ?? err.message}`))
    })
    server.listen(port, host, resolve)
  })

  const address = server.address()

  return {
    port: typeof address === 'object' && address != null ? address.port : port,
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}
