import { chmod, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { DEFAULT_HTTP_MAX_CONNECTIONS } from '../../relay/constants.ts'
import { pageRoute, startHttpServer } from '../../relay/http-server.ts'
import { loadOrCreateKey } from '../../relay/key-file.ts'
import { startRelayProgram } from '../../relay/relay.ts'
import { trustedProxies } from '../../relay/websockets/index.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { runRelay, tempKeyFile } from '../fixtures/relay-process.ts'
import { makeServerCert, makeTestCa } from '../fixtures/tls-certs.ts'
import type { HttpServer } from '../../relay/http-server.ts'
import type { RelayProgram } from '../../relay/relay.ts'
import type { Socket } from 'node:net'

/** the status and headers of a GET of `path` as written, without URL normalisation */
async function rawGet (port: number, path: string): Promise<{ status?: number, headers: Record<string, unknown>, body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, res => {
      let body = ''
      res.on('data', (b: Buffer) => { body += b.toString() })
      res.on('end', () => { resolve({ status: res.statusCode, headers: res.headers, body }) })
    }).on('error', reject)
  })
}

/**
 * The local addresses of the TCP sockets listening on `port`, from the
 * kernel's table (IPv4 and IPv6), e.g. `127.0.0.1` or `0.0.0.0`
 */
async function listeningAddresses (port: number): Promise<string[]> {
  const found: string[] = []

  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(1)

    for (const line of lines) {
      const [, local, , state] = line.trim().split(/\s+/)

      // 0A = LISTEN
      if (local == null || state !== '0A' || parseInt(local.split(':')[1], 16) !== port) {
        continue
      }

      const hex = local.split(':')[0]
      found.push(hex.length === 8
        ? [3, 2, 1, 0].map(i => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.')
        : hex)
    }
  }

  return found
}

describe('relay program: page and metrics servers, key file', function () {
  this.timeout(60_000)
  let server: HttpServer | undefined
  let program: RelayProgram | undefined
  const sockets: Socket[] = []

  afterEach(async () => {
    sockets.splice(0).forEach(socket => socket.destroy())
    await server?.stop()
    server = undefined
    await program?.stop()
    program = undefined
  })

  it('serves no file through a symbolic link that leads out of --http-root, and nosniff and a CSP with the page', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'relaymesh-links-'))
    const root = join(dir, 'root')
    await mkdir(root)
    await writeFile(join(dir, 'secret.txt'), 'secret outside the root\n')
    await writeFile(join(root, 'index.html'), '<!doctype html><title>page</title>\n')
    await writeFile(join(root, 'main.js'), 'export {}\n')
    await symlink(join(dir, 'secret.txt'), join(root, 'link.txt'))
    await symlink(dir, join(root, 'up'))
    await symlink(join(root, 'main.js'), join(root, 'alias.js'))
    server = await startHttpServer('127.0.0.1', 0, 'page', pageRoute(root))

    for (const path of ['/link.txt', '/up/secret.txt', '/up/root/../secret.txt']) {
      const res = await rawGet(server.port, path)
      expect(res.status, path).to.equal(404)
      expect(res.body, path).to.not.include('secret')
    }

    // a link that stays inside the root is served
    const alias = await rawGet(server.port, '/alias.js')
    expect(alias.status).to.equal(200)
    expect(alias.body).to.equal('export {}\n')
    expect(alias.headers['x-content-type-options']).to.equal('nosniff')
    expect(alias.headers['content-security-policy']).to.be.undefined()

    const page = await rawGet(server.port, '/')
    expect(page.status).to.equal(200)
    expect(page.body).to.include('<title>page</title>')
    expect(page.headers['x-content-type-options']).to.equal('nosniff')
    expect(page.headers['content-security-policy']).to.include("script-src 'self'")
    expect(page.headers['content-security-policy']).to.include('connect-src \'self\' ws: wss:')
    expect((await rawGet(server.port, '/missing')).headers['x-content-type-options']).to.equal('nosniff')
  })

  it(`holds at most ${DEFAULT_HTTP_MAX_CONNECTIONS} of 300 half-sent requests and closes them all within the headers timeout`, async function () {
    this.timeout(90_000)
    const root = await mkdtemp(join(tmpdir(), 'relaymesh-half-'))
    await writeFile(join(root, 'index.html'), '<!doctype html>\n')
    // all from 127.0.0.1: lift the per-IP share to see the total cap
    server = await startHttpServer('127.0.0.1', 0, 'page', pageRoute(root), undefined, { maxConnectionsPerIp: 1000 })
    let closed = 0

    await Promise.all(Array.from({ length: 300 }, async () => {
      const socket = connect(server!.port, '127.0.0.1')
      sockets.push(socket)
      socket.on('error', () => {})
      socket.on('close', () => { closed++ })
      // read, to see the server's 408 and its end
      socket.resume()
      await new Promise<void>(resolve => socket.once('connect', resolve).once('close', () => { resolve() }))
      socket.write('GET / HTTP/1.1\r\nHost: relay\r\nX-Half: ')
    }))

    let most = 0
    const start = Date.now()
    await pWaitFor(async () => {
      most = Math.max(most, await server!.connections())
      return closed === 300
    }, { interval: 100, timeout: 40_000 })

    // the headers timeout is 10 s, checked every second
    expect(Date.now() - start).to.be.below(30_000)
    expect(most).to.be.at.most(DEFAULT_HTTP_MAX_CONNECTIONS)
    expect(await server.connections()).to.equal(0)

    // and it still serves
    expect((await rawGet(server.port, '/')).status).to.equal(200)
  })

  it('closes connections from one IP past its share, while other IPs and trusted proxies still get in', async () => {
    const root = await mkdtemp(join(tmpdir(), 'relaymesh-per-ip-'))
    await writeFile(join(root, 'index.html'), '<!doctype html>\n')

    /** a socket from `localAddress`: whether the server kept it open for a moment */
    async function kept (port: number, localAddress: string): Promise<boolean> {
      const socket = connect({ port, host: '127.0.0.1', localAddress })
      sockets.push(socket)
      socket.on('error', () => {})
      let closed = false
      socket.once('close', () => { closed = true })
      await new Promise<void>(resolve => socket.once('connect', resolve).once('close', () => { resolve() }))
      await new Promise(resolve => setTimeout(resolve, 200))
      return !closed
    }

    server = await startHttpServer('127.0.0.1', 0, 'page', pageRoute(root), undefined, { maxConnectionsPerIp: 4 })
    const first: boolean[] = []

    for (let i = 0; i < 4; i++) {
      first.push(await kept(server.port, '127.0.0.1'))
    }

    expect(first).to.deep.equal([true, true, true, true])
    expect(await kept(server.port, '127.0.0.1'), 'a fifth from 127.0.0.1').to.equal(false)
    // another IP (all of 127/8 is loopback on Linux) has its own share
    expect(await kept(server.port, '127.0.0.2'), 'from 127.0.0.2').to.equal(true)

    // a slot freed is a slot again
    sockets[0].destroy()
    await pWaitFor(async () => (await server!.connections()) === 4)
    expect(await kept(server.port, '127.0.0.1'), 'after one closed').to.equal(true)
    await server.stop()
    sockets.splice(0).forEach(socket => socket.destroy())

    // a trusted proxy carries many clients: only the total cap applies to it
    server = await startHttpServer('127.0.0.1', 0, 'page', pageRoute(root), undefined, { maxConnectionsPerIp: 4, trustProxy: trustedProxies(['127.0.0.1']) })
    const proxied: boolean[] = []

    for (let i = 0; i < 6; i++) {
      proxied.push(await kept(server.port, '127.0.0.1'))
    }

    expect(proxied).to.deep.equal([true, true, true, true, true, true])
    expect((await rawGet(server.port, '/')).status).to.equal(200)
  })

  it('over https, closes sockets that never start the TLS handshake within the headers timeout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'relaymesh-tls-silent-'))
    const files = await makeServerCert(dir, await makeTestCa(dir), 'page')
    const tls = { cert: await readFile(files.cert, 'utf8'), key: await readFile(files.key, 'utf8') }
    await writeFile(join(dir, 'index.html'), '<!doctype html>\n')
    server = await startHttpServer('127.0.0.1', 0, 'page', pageRoute(dir), tls, { headersTimeout: 1000 })
    let closed = 0

    await Promise.all(Array.from({ length: 20 }, async () => {
      const socket = connect(server!.port, '127.0.0.1')
      sockets.push(socket)
      socket.on('error', () => {})
      socket.on('close', () => { closed++ })
      await new Promise<void>(resolve => socket.once('connect', resolve).once('close', () => { resolve() }))
    }))

    // Node's default handshake timeout is 120 s
    const start = Date.now()
    await pWaitFor(() => closed === 20, { interval: 100, timeout: 20_000 })
    expect(Date.now() - start).to.be.below(15_000)
    await pWaitFor(async () => await server!.connections() === 0, { interval: 100, timeout: 5000 })
  })

  it('binds the metrics endpoint to 127.0.0.1 when --host is public, unless --metrics-host says otherwise', async () => {
    const metricsPort = await freePort()
    program = await startRelayProgram({ host: '0.0.0.0', port: 0, tcpPort: -1, metricsPort, keyFile: await tempKeyFile() })
    expect(program.metricsPort).to.equal(metricsPort)
    expect(await listeningAddresses(metricsPort)).to.deep.equal(['127.0.0.1'])
    expect((await fetch(`http://127.0.0.1:${metricsPort}/health`)).status).to.equal(200)
    await program.stop()
    program = undefined

    const again = await freePort()
    program = await startRelayProgram({ host: '127.0.0.1', port: 0, tcpPort: -1, metricsPort: again, metricsHost: '0.0.0.0', keyFile: await tempKeyFile() })
    expect(await listeningAddresses(again)).to.deep.equal(['0.0.0.0'])
  })

  it('refuses a key file that other users can read (exit 2), and leaves it as it is', async () => {
    const keyFile = await tempKeyFile()
    await mkdir(join(keyFile, '..'), { recursive: true })
    const key = privateKeyToProtobuf(await generateKeyPair('Ed25519'))
    await writeFile(keyFile, key, { mode: 0o644 })

    const run = await runRelay(['--port', '0', '--tcp-port', '0', '--key-file', keyFile])
    expect(run.code, run.stderr).to.equal(2)
    expect(run.stdout).to.equal('')
    expect(run.stderr).to.match(/^relaymesh-relay: key file .*relay\.key is readable by other users \(mode 0644\): run chmod 600 /)
    expect(await readFile(keyFile)).to.deep.equal(Buffer.from(key))

    // the group alone is enough to refuse
    await chmod(keyFile, 0o640)
    expect((await runRelay(['--port', '0', '--tcp-port', '0', '--key-file', keyFile])).stderr).to.match(/mode 0640/)

    // and one they can write: they could put their own key there
    for (const mode of [0o620, 0o602]) {
      await chmod(keyFile, mode)
      await expect(loadOrCreateKey(keyFile)).to.eventually.be.rejected.with.property('message').that.matches(new RegExp(`is writable by other users \\(mode 0${mode.toString(8)}\\)`))
    }

    await chmod(keyFile, 0o600)
    expect((await loadOrCreateKey(keyFile)).equals(privateKeyFromProtobuf(key))).to.be.true()
  })
})
