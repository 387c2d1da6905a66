import '../fixtures/datachannel-cleanup.ts'
import { createHash, X509Certificate } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { get } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { buildPage, launchChromium, openMember, pageMessages } from '../fixtures/browser-member/serve.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { startMeshMember } from '../fixtures/mesh-member-process.ts'
import { runRelay, startRelayProcess, tempKeyFile } from '../fixtures/relay-process.ts'
import { makeServerCert, makeTestCa } from '../fixtures/tls-certs.ts'
import type { MeshMemberProcess } from '../fixtures/mesh-member-process.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { CertFiles } from '../fixtures/tls-certs.ts'
import type { Browser } from 'playwright-core'

/** the serial number of the certificate a TLS server at `port` presents, checked against `ca` */
async function servedSerial (port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const serial = socket.getPeerCertificate().serialNumber
      socket.end()
      resolve(serial)
    })
    socket.once('error', reject)
  })
}

/** a WebSocket upgrade over TLS: the status line the server answers with */
async function upgradeOverTls (port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    })
    socket.once('data', (data: Buffer) => {
      socket.destroy()
      resolve(data.toString().split('\r\n')[0])
    })
    socket.once('error', reject)
  })
}

async function getJson (url: string, ca: string): Promise<any> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, res => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => {
        try {
          resolve(JSON.parse(body))
        } catch (err) {
          reject(err)
        }
      })
    }).once('error', reject)
  })
}

function portOf (addr: string): number {
  return Number(/\/tcp\/(\d+)\//.exec(addr)?.[1])
}

describe('relay program: TLS', function () {
  this.timeout(120_000)
  let dir: string
  let ca: CertFiles
  let first: CertFiles
  let second: CertFiles
  let caPem: string
  let pageRoot: string
  let relay: RelayProcess | undefined
  let members: MeshMemberProcess[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'relaymesh-tls-'))
    ca = await makeTestCa(dir)
    first = await makeServerCert(dir, ca, 'first')
    second = await makeServerCert(dir, ca, 'second')
    caPem = await readFile(ca.cert, 'utf8')
    pageRoot = join(dir, 'page')
    await mkdir(pageRoot)
    await writeFile(join(pageRoot, 'index.html'), '<!doctype html><title>page</title>')
  })

  afterEach(async () => {
    await Promise.all(members.map(async member => member.stop()))
    members = []
    await relay?.stop('SIGKILL')
    relay = undefined
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('serves WebSockets over TLS (/tls/ws) and the page and /relaymesh.json over https', async () => {
    relay = await startRelayProcess(['--tls-cert', first.cert, '--tls-key', first.key, '--http-port', `${await freePort()}`, '--http-root', pageRoot])

    expect(relay.wsAddr).to.match(/\/tcp\/\d+\/tls\/ws\/p2p\//)
    expect(relay.page).to.match(/^https:\/\/127\.0\.0\.1:\d+\/$/)
    expect(await upgradeOverTls(portOf(relay.wsAddr), caPem)).to.equal('HTTP/1.1 101 Switching Protocols')

    const info = await getJson(`${relay.page}relaymesh.json`, caPem)
    expect(info.peerId).to.equal(relay.peerId)
    expect(info.multiaddrs.some((ma: string) => ma.includes('/tls/ws/'))).to.be.true()
  })

  it('members whose Node trusts the CA join a room through the relay\'s /tls/ws and exchange messages', async () => {
    relay = await startRelayProcess(['--tls-cert', first.cert, '--tls-key', first.key])
    const env = { NODE_EXTRA_CA_CERTS: ca.cert }
    members = await Promise.all([0, 1].map(async () => startMeshMember({ relay: relay!.wsAddr, room: 'over-tls', messages: true, env })))
    const [a, b] = members
    await b.waitFor(line => line.event === 'member:joined' && line.peerId === a.peerId, 60_000)

    await a.sendMany(3, 'tls')
    await pWaitFor(() => b.history.filter(line => line.event === 'message' && line.sender === a.peerId).length === 3, { timeout: 30_000, interval: 50 })
  })

  it('reloads the certificate on SIGHUP for new connections, and keeps it when the new files are unusable', async () => {
    const live = { cert: join(dir, 'live.pem'), key: join(dir, 'live.key') }
    await copyFile(first.cert, live.cert)
    await copyFile(first.key, live.key)
    relay = await startRelayProcess(['--tls-cert', live.cert, '--tls-key', live.key, '--http-port', `${await freePort()}`, '--http-root', pageRoot])
    const ports = [portOf(relay.wsAddr), Number(new URL(relay.page!).port)]
    const [firstSerial] = await Promise.all(ports.map(async port => servedSerial(port, caPem)))

    // a renewal (certbot replaces both files), then SIGHUP
    await copyFile(second.cert, live.cert)
    await copyFile(second.key, live.key)
    relay.process.kill('SIGHUP')
    await pWaitFor(async () => (await Promise.all(ports.map(async port => servedSerial(port, caPem)))).every(serial => serial !== firstSerial), { timeout: 10_000, interval: 100 })
    const secondSerial = await servedSerial(ports[0], caPem)
    expect(await upgradeOverTls(ports[0], caPem)).to.equal('HTTP/1.1 101 Switching Protocols')

    // a key that does not match the certificate: the old pair stays
    await copyFile(first.key, live.key)
    relay.process.kill('SIGHUP')
    await pWaitFor(() => relay!.stderr().includes('kept the old TLS certificate'), { timeout: 10_000, interval: 100 })
    expect(await Promise.all(ports.map(async port => servedSerial(port, caPem)))).to.deep.equal([secondSerial, secondSerial])
    expect(relay.process.exitCode).to.be.null()
  })

  it('Chromium loads the page over https from the relay, in a secure context, and joins a room over wss', async () => {
    // Chromium trusts the test certificate's key through a flag (its own trust store is NSS's)
    const spki = createHash('sha256').update(new X509Certificate(await readFile(first.cert)).publicKey.export({ type: 'spki', format: 'der' })).digest('base64')
    const built = await buildPage()
    let browser: Browser | undefined

    try {
      relay = await startRelayProcess(['--tls-cert', first.cert, '--tls-key', first.key, '--http-port', `${await freePort()}`, '--http-root', built, '--max-reservations-per-ip', '64'])
      members = [await startMeshMember({ relay: relay.wsAddr, room: 'page-over-tls', echo: true, env: { NODE_EXTRA_CA_CERTS: ca.cert } })]
      browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spki}`])
      const page = await browser.newPage()
      await openMember(page, relay.page!, relay.wsAddr, 'page-over-tls')

      expect(await page.evaluate(() => globalThis.isSecureContext)).to.be.true()
      expect(page.url()).to.match(/^https:/)
      await page.waitForFunction(() => (globalThis as any).member.routes().some((m: any) => m.route !== 'none'), undefined, { timeout: 60_000 })
      await page.evaluate(async () => (globalThis as any).member.send('over tls'))
      await pWaitFor(async () => (await pageMessages(page)).some(m => m.text === 'echo:over tls'), { timeout: 30_000, interval: 200 })
    } finally {
      await browser?.close()
      await rm(built, { recursive: true, force: true })
    }
  })

  describe('bad input', () => {
    it('rejects --tls-cert without --tls-key, unreadable files and a key that does not match', async () => {
      const base = ['--port', '0', '--tcp-port', '0', '--key-file', await tempKeyFile()]
      const cases: Array<[string[], RegExp]> = [
        [['--tls-cert', first.cert], /--tls-cert and --tls-key go together/],
        [['--tls-key', first.key], /--tls-cert and --tls-key go together/],
        [['--tls-cert', join(dir, 'missing.pem'), '--tls-key', first.key], /--tls-cert: cannot read .*missing\.pem: ENOENT/],
        [['--tls-cert', first.key, '--tls-key', first.key], /--tls-cert: .* holds no PEM certificate/],
        [['--tls-cert', first.cert, '--tls-key', second.key], /not a usable pair/]
      ]

      for (const [args, mentions] of cases) {
        const run = await runRelay([...base, ...args])
        expect(run.code, run.stderr).to.equal(2)
        expect(run.stdout).to.equal('')
        expect(run.stderr).to.match(mentions)
        expect(run.stderr).to.not.match(/\n\s+at /)
      }
    })
  })
})
