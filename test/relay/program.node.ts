import '../fixtures/datachannel-cleanup.ts'
import { readFile, stat, writeFile, mkdir, mkdtemp } from 'node:fs/promises'
import { get } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { FLAGS } from '../../relay/args.ts'
import { RELAY_NODE_FLAGS } from '../../relay/node-flags.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { runRelay, startRelayProcess, tempKeyFile } from '../fixtures/relay-process.ts'
import type { RelayExit, RelayProcess } from '../fixtures/relay-process.ts'
import type { Server } from 'node:net'

/**
 * A bad-input run ends with exit code 2 and one line on stderr naming the
 * problem, without a stack trace, and prints nothing on stdout.
 */
function expectUsageFailure (run: RelayExit, mentions: RegExp): void {
  expect(run.code, run.stderr).to.equal(2)
  expect(run.stdout).to.equal('')
  const lines = run.stderr.trim().split('\n').filter(l => !l.startsWith('Try '))
  expect(lines, run.stderr).to.have.lengthOf(1)
  expect(lines[0]).to.match(/^relaymesh-relay: /)
  expect(lines[0]).to.match(mentions)
  expect(run.stderr).to.not.match(/\n\s+at /)
}

describe('relay program', function () {
  this.timeout(60_000)
  let relay: RelayProcess | undefined

  afterEach(async () => {
    await relay?.stop('SIGKILL')
    relay = undefined
  })

  it('prints exactly one JSON readiness line on stdout and logs to stderr', async () => {
    relay = await startRelayProcess()
    let stdout = ''
    relay.process.stdout?.on('data', (b: Buffer) => { stdout += b.toString() })

    expect(relay.event).to.equal('ready')
    expect(relay.peerId).to.match(/^12D3KooW/)
    expect(relay.wsAddr).to.match(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/ws/p2p/${relay.peerId}$`))
    expect(relay.tcpAddr).to.match(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${relay.peerId}$`))
    await pWaitFor(() => relay?.stderr().includes('listening on') === true, { timeout: 5000 })

    const code = await relay.stop('SIGTERM')
    expect(code).to.equal(0)
    expect(stdout).to.equal('', 'nothing but the ready line goes to stdout')
  })

  it('keeps its peer id across restarts through the key file, created with mode 0600', async () => {
    const keyFile = await tempKeyFile()
    relay = await startRelayProcess([], keyFile)
    const first = relay.peerId
    const mode = (await stat(keyFile)).mode & 0o777
    expect(mode).to.equal(0o600)
    const key = await readFile(keyFile)
    expect(await relay.stop()).to.equal(0)

    relay = await startRelayProcess([], keyFile)
    expect(relay.peerId).to.equal(first)
    expect(await readFile(keyFile)).to.deep.equal(key)
  })

  async function expectGracefulStop (signal: NodeJS.Signals): Promise<void> {
    const started = relay = await startRelayProcess()
    const start = Date.now()
    const code = await started.stop(signal)
    expect(code).to.equal(0)
    expect(Date.now() - start).to.be.below(3000)
    expect(started.stderr()).to.include(`${signal}, stopping`)
    expect(started.stderr()).to.not.include('stop took too long')
  }

  it('stops gracefully on SIGTERM and exits 0 within 3 s', async () => {
    await expectGracefulStop('SIGTERM')
  })

  it('stops gracefully on SIGINT and exits 0 within 3 s', async () => {
    await expectGracefulStop('SIGINT')
  })

  it('serves Prometheus metrics and a health endpoint', async () => {
    const port = await freePort()
    relay = await startRelayProcess(['--metrics-port', `${port}`])

    const health = await fetch(`http://127.0.0.1:${port}/health`)
    expect(health.status).to.equal(200)

    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`)
    expect(metrics.status).to.equal(200)
    const text = await metrics.text()
    expect(text).to.include('libp2p_connection_manager_connections')
    expect(text).to.match(/relaymesh_relay_/)
  })

  it('serves a page folder and /relaymesh.json on --http-port, and nothing outside the folder', async () => {
    const root = await mkdtemp(join(tmpdir(), 'relaymesh-page-'))
    await writeFile(join(root, 'index.html'), '<!doctype html><title>page</title>\n')
    await writeFile(join(root, 'main.js'), 'export {}\n')
    const port = await freePort()
    relay = await startRelayProcess(['--http-port', `${port}`, '--http-root', root])
    const page = `http://127.0.0.1:${port}/`
    expect(relay.page).to.equal(page)

    const index = await fetch(page)
    expect(index.status).to.equal(200)
    expect(index.headers.get('content-type')).to.match(/^text\/html/)
    expect(await index.text()).to.include('<title>page</title>')
    const script = await fetch(`${page}main.js`)
    expect(script.headers.get('content-type')).to.match(/^text\/javascript/)

    const info = await (await fetch(`${page}relaymesh.json`)).json()
    expect(info).to.deep.equal({ peerId: relay.peerId, multiaddrs: relay.multiaddrs, iceServers: [] })

    // fetch() normalises dot segments, a raw request does not
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/missing.js']) {
      expect(await rawGet(port, path), path).to.equal(404)
    }
    expect((await fetch(page, { method: 'POST' })).status).to.equal(405)
  })

  it('prints every flag with --help and exits 0', async () => {
    const run = await runRelay(['--help'])
    expect(run.code).to.equal(0)

    for (const flag of Object.keys(FLAGS)) {
      expect(run.stdout).to.include(`--${flag}`)
    }
  })

  it('documents every flag in the README and relay/README.md', async () => {
    for (const file of ['README.md', 'relay/README.md']) {
      const text = await readFile(new URL(`../../${file}`, import.meta.url), 'utf8')

      for (const flag of Object.keys(FLAGS).filter(f => f !== 'help')) {
        expect(text, file).to.include(`\`--${flag}\``)
      }
    }
  })

  it('runs with its Node flags when started by npm start, the Dockerfile or the systemd unit', async () => {
    const read = async (file: string): Promise<string> => readFile(new URL(`../../${file}`, import.meta.url), 'utf8')
    const start: string = JSON.parse(await read('package.json')).scripts.start
    const cmd = (await read('deploy/Dockerfile')).split('\n').find(line => line.startsWith('CMD ')) ?? ''
    const nodeOptions = (await read('deploy/relaymesh-relay.service')).split('\n')
      .find(line => line.startsWith('Environment=NODE_OPTIONS='))?.slice('Environment=NODE_OPTIONS='.length).split(' ') ?? []
    // BusyBox's env has no -S: a #! line can hold no flags
    expect((await read('relay/bin.ts')).split('\n')[0]).to.equal('#!/usr/bin/env node')

    expect(RELAY_NODE_FLAGS).to.not.be.empty()

    for (const flag of RELAY_NODE_FLAGS) {
      expect(start.split(' ')).to.include(flag)
      expect(cmd).to.include(`"${flag}"`)
      expect(nodeOptions).to.include(flag)
    }
  })

  describe('bad input', () => {
    it('rejects an unknown flag', async () => {
      expectUsageFailure(await runRelay(['--no-such-flag']), /no-such-flag/)
    })

    it('rejects a port that is not a number', async () => {
      expectUsageFailure(await runRelay(['--port', 'abc']), /--port must be a whole number/)
    })

    it('rejects a port out of range', async () => {
      expectUsageFailure(await runRelay(['--port', '70000']), /--port must be between 0 and 65535/)
    })

    it('rejects a negative reservation limit', async () => {
      expectUsageFailure(await runRelay(['--max-reservations=-3']), /--max-reservations must be between 1 and/)
      expectUsageFailure(await runRelay(['--max-reservations', '0']), /--max-reservations must be between 1 and/)
    })

    it('rejects a reservation rate of 0', async () => {
      expectUsageFailure(await runRelay(['--reservation-rate', '0']), /--reservation-rate must be between 1 and/)
    })

    it('rejects an empty namespace', async () => {
      expectUsageFailure(await runRelay(['--namespace', '']), /--namespace must not be empty/)
    })

    it('rejects an unreadable key file', async () => {
      const keyFile = await tempKeyFile()
      await mkdir(keyFile) // a folder where the key file should be

      expectUsageFailure(await runRelay(['--port', '0', '--tcp-port', '0', '--key-file', keyFile]), /cannot read key file .*EISDIR/)
      expect((await stat(keyFile)).isDirectory()).to.be.true()
    })

    it('rejects a corrupt key file and leaves it untouched', async () => {
      const keyFile = await tempKeyFile()
      await mkdir(dirname(keyFile), { recursive: true })
      const garbage = Buffer.from('this is not a protobuf private key')
      await writeFile(keyFile, garbage, { mode: 0o600 })

      expectUsageFailure(await runRelay(['--port', '0', '--tcp-port', '0', '--key-file', keyFile]), /key file .* is corrupt/)
      expect(await readFile(keyFile)).to.deep.equal(garbage)
    })

    it('rejects a WebSocket port that is in use and leaves the key file untouched', async () => {
      const keyFile = await tempKeyFile()
      relay = await startRelayProcess([], keyFile)
      const key = await readFile(keyFile)
      const port = relay.wsAddr.split('/')[4]

      expectUsageFailure(await runRelay(['--port', port, '--tcp-port', '0', '--key-file', keyFile]), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`))
      expect(await readFile(keyFile)).to.deep.equal(key)
    })

    it('rejects a TCP port that is in use', async () => {
      const { server, port } = await listenOnFreePort()

      try {
        expectUsageFailure(await runRelay(['--port', '0', '--tcp-port', `${port}`, '--key-file', await tempKeyFile()]), /already in use/)
      } finally {
        server.close()
      }
    })

    it('rejects --http-root without an index.html', async () => {
      const root = await mkdtemp(join(tmpdir(), 'relaymesh-page-'))
      expectUsageFailure(await runRelay(['--port', '0', '--tcp-port', '0', '--http-port', `${await freePort()}`, '--http-root', root, '--key-file', await tempKeyFile()]), /--http-root: .* has no index\.html/)
    })

    it('rejects bad settings from RELAYMESH_RELAY_* variables and --config files the same way, naming where they came from', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'relaymesh-config-'))
      const config = async (name: string, text: string): Promise<string> => {
        await writeFile(join(dir, name), text)
        return join(dir, name)
      }

      expectUsageFailure(await runRelay([], 20_000, { RELAYMESH_RELAY_PORT: 'abc' }), /--port \(RELAYMESH_RELAY_PORT\) must be a whole number/)
      expectUsageFailure(await runRelay([], 20_000, { RELAYMESH_RELAY_NO_SUCH: '1' }), /RELAYMESH_RELAY_NO_SUCH: no such setting/)
      expectUsageFailure(await runRelay(['--config', await config('port.json', '{"port": 70000}')]), /--port \("port" in .*port\.json\) must be between 0 and 65535/)
      expectUsageFailure(await runRelay(['--config', await config('unknown.json', '{"prot": 443}')]), /"prot" in .*unknown\.json: no such setting/)
      expectUsageFailure(await runRelay(['--config', await config('broken.json', '{"port": ')]), /--config: cannot read .*broken\.json/)
      expectUsageFailure(await runRelay(['--config', await config('list.json', '[1, 2]')]), /must hold a JSON object of flags/)
      expectUsageFailure(await runRelay(['--config', join(dir, 'missing.json')]), /--config: cannot read .*missing\.json: ENOENT/)
      expectUsageFailure(await runRelay([], 20_000, { RELAYMESH_RELAY_CONFIG: await config('ns.json', '{"namespace": [""]}') }), /--namespace \("namespace" in .*ns\.json\) must not be empty/)
    })

    it('rejects a metrics port that is in use', async () => {
      const { server, port } = await listenOnFreePort()

      try {
        expectUsageFailure(await runRelay(['--port', '0', '--tcp-port', '0', '--metrics-port', `${port}`, '--key-file', await tempKeyFile()]), new RegExp(`metrics port ${port} on 127\\.0\\.0\\.1 is already in use`))
      } finally {
        server.close()
      }
    })
  })
})

/** the status of a GET of `path` as written, without URL normalisation */
async function rawGet (port: number, path: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, res => {
      res.resume()
      resolve(res.statusCode)
    }).on('error', reject)
  })
}

async function listenOnFreePort (): Promise<{ server: Server, port: number }> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return { server, port: typeof address === 'object' && address != null ? address.port : 0 }
}
