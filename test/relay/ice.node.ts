import '../fixtures/datachannel-cleanup.ts'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { parseRelayArgs } from '../../relay/args.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { runRelay, startRelayProcess, tempKeyFile } from '../fixtures/relay-process.ts'
import type { RelayProgramInit } from '../../relay/relay.ts'
import type { RelayExit, RelayProcess } from '../fixtures/relay-process.ts'

function init (argv: string[], env: NodeJS.ProcessEnv = {}): RelayProgramInit {
  const parsed = parseRelayArgs(argv, env)

  if (parsed.help) {
    throw new Error('help')
  }

  return parsed.init
}

/** exit 2, one line on stderr naming the problem, no stack trace, nothing on stdout */
function expectUsageFailure (run: RelayExit, mentions: RegExp): void {
  expect(run.code, run.stderr).to.equal(2)
  expect(run.stdout).to.equal('')
  const lines = run.stderr.trim().split('\n').filter(l => !l.startsWith('Try '))
  expect(lines, run.stderr).to.have.lengthOf(1)
  expect(lines[0]).to.match(/^relaymesh-relay: /)
  expect(lines[0]).to.match(mentions)
  expect(run.stderr).to.not.match(/\n\s+at /)
}

describe('relay program: --stun-port, --stun-announce, --ice-server', function () {
  this.timeout(60_000)
  let relay: RelayProcess | undefined

  afterEach(async () => {
    await relay?.stop('SIGKILL')
    relay = undefined
  })

  it('parses them from flags, variables and --config', async () => {
    expect(init([])).to.deep.include({ stunPort: -1, iceServers: [], stunAnnounce: undefined })
    expect(init(['--stun-port', '3478'])).to.include({ stunPort: 3478 })
    expect(init(['--stun-port', '0'])).to.include({ stunPort: 0 })
    expect(init(['--stun-announce', 'Relay.Example.com'])).to.include({ stunAnnounce: 'relay.example.com' })
    expect(init(['--stun-announce', '2001:db8::1'])).to.include({ stunAnnounce: '2001:db8::1' })
    expect(init([
      '--ice-server', 'stun:stun.example.com',
      '--ice-server', 'turn:alice:p%2Bss%2Fword@turn.example.com:3478?transport=udp',
      '--ice-server', 'turns:bob:pw@[2001:db8::2]:5349?transport=tcp'
    ]).iceServers).to.deep.equal([
      { urls: ['stun:stun.example.com'] },
      { urls: ['turn:turn.example.com:3478?transport=udp'], username: 'alice', credential: 'p+ss/word' },
      { urls: ['turns:[2001:db8::2]:5349?transport=tcp'], username: 'bob', credential: 'pw' }
    ])
    expect(init([], { RELAYMESH_RELAY_ICE_SERVER: 'stun:a.example.com,turn:u:p@b.example.com', RELAYMESH_RELAY_STUN_PORT: '3478' })).to.deep.include({
      stunPort: 3478,
      iceServers: [{ urls: ['stun:a.example.com'] }, { urls: ['turn:b.example.com'], username: 'u', credential: 'p' }]
    })

    // TURN without credentials: minted from --turn-secret-file
    expect(init(['--ice-server', 'turn:turn.example.com:3478', '--turn-secret-file', '/etc/relaymesh/turn-secret'])).to.deep.include({
      iceServers: [{ urls: ['turn:turn.example.com:3478'] }],
      turnSecretFile: '/etc/relaymesh/turn-secret'
    })

    const config = join(await mkdtemp(join(tmpdir(), 'relaymesh-config-')), 'relay.json')
    await writeFile(config, JSON.stringify({ 'stun-port': 3478, 'ice-server': ['turn:u:p@turn.example.com:3478'] }))
    expect(init(['--config', config])).to.deep.include({ stunPort: 3478, iceServers: [{ urls: ['turn:turn.example.com:3478'], username: 'u', credential: 'p' }] })
  })

  it('refuses bad values with one line naming the flag (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--stun-port', 'abc'], /--stun-port must be a whole number/],
      [['--stun-port', '70000'], /--stun-port must be between 0 and 65535/],
      [['--ice-server', 'http://turn.example.com'], /--ice-server must be stun:host\[:port\] or turn:/],
      [['--ice-server', 'turn:turn.example.com:3478'], /--ice-server: TURN server without a username/],
      [['--ice-server', 'stun:u:p@stun.example.com'], /--ice-server: a STUN server takes no credentials/],
      [['--ice-server', 'turn:u:p@turn.example.com:99999'], /--ice-server: bad port/],
      [['--stun-port', '0', '--ice-server', 'stun:a', '--ice-server', 'nonsense'], /--ice-server must be stun:/],
      [['--ice-server', 'turn:u:%zz@turn.example.com'], /--ice-server: bad percent-encoding/],
      [['--ice-server', 'turn:u:p%40q@turn.example.com'], /--ice-server: a TURN username or credential is empty or holds a character other than/],
      [['--ice-server', 'stun:a.example.com?transport=udp'], /--ice-server: \?transport is for TURN only/],
      [['--ice-server', `stun:${'a'.repeat(300)}.example.com`], /--ice-server: not a stun:.* of at most 256 characters/],
      [['--stun-announce', 'relay example'], /--stun-announce must be a host name or an IP address/]
    ]

    for (const [args, message] of cases) {
      expect(() => parseRelayArgs(args), args.join(' ')).to.throw(message).with.property('name', 'UsageError')
    }

    // through the program: exit 2, one line; these two are checked when it starts
    const started: Array<[string[], RegExp]> = [
      [['--stun-port', '0', ...Array.from({ length: 8 }, (_, i) => ['--ice-server', `stun:s${i}.example.com`]).flat()], /--ice-server: clients accept at most 8 ICE servers from a relay \(its STUN server included\), got 9/],
      [['--host', '0.0.0.0', '--stun-port', '0'], /--stun-port: clients cannot be told where the STUN server is .* pass --stun-announce/],
      [['--ice-server', 'turn:turn.example.com:3478'], /--ice-server: TURN server without a username/],
      [['--ice-server', 'turn:turn.example.com:3478', '--turn-secret-file', '/nonexistent/secret'], /--turn-secret-file: cannot read \/nonexistent\/secret: ENOENT/]
    ]

    for (const [args, message] of started) {
      expectUsageFailure(await runRelay(['--port', '0', '--tcp-port', 'off', '--key-file', await tempKeyFile(), ...args]), message)
    }

    const run = await runRelay(['--port', '0', '--key-file', await tempKeyFile()], 20_000, { RELAYMESH_RELAY_ICE_SERVER: 'turn:nocreds.example.com' })
    expectUsageFailure(run, /--ice-server \(RELAYMESH_RELAY_ICE_SERVER\): TURN server without a username/)
  })

  it('a STUN port in use is a usage error (exit 2)', async () => {
    const taken = createSocket('udp4')
    taken.bind(0, '127.0.0.1')
    await once(taken, 'listening')

    try {
      const run = await runRelay(['--port', '0', '--tcp-port', 'off', '--key-file', await tempKeyFile(), '--stun-port', `${taken.address().port}`])
      expectUsageFailure(run, new RegExp(`STUN port ${taken.address().port} on 127.0.0.1 is already in use`))
    } finally {
      taken.close()
    }
  })

  it('announces its STUN server and --ice-server in the ready line and /relaymesh.json', async () => {
    const root = await mkdtemp(join(tmpdir(), 'relaymesh-page-'))
    await writeFile(join(root, 'index.html'), '<!doctype html><title>page</title>\n')
    const port = await freePort()
    relay = await startRelayProcess(['--http-port', `${port}`, '--http-root', root, '--stun-port', '0', '--ice-server', 'turn:member:pw@127.0.0.1:3478?transport=udp'])
    expect(relay.stunPort).to.be.a('number').above(0)

    const info = await (await fetch(`http://127.0.0.1:${port}/relaymesh.json`)).json()
    expect(info).to.deep.equal({
      peerId: relay.peerId,
      multiaddrs: relay.multiaddrs,
      iceServers: [
        { urls: [`stun:127.0.0.1:${relay.stunPort}`] },
        { urls: ['turn:127.0.0.1:3478?transport=udp'], username: 'member', credential: 'pw' }
      ]
    })
  })

  it('hands out its STUN server under the first --announce host, or --stun-announce', async () => {
    relay = await startRelayProcess(['--stun-port', '0', '--announce', '/dns4/relay.example.com/tcp/443/wss'])
    await pWaitFor(() => relay?.stderr().includes(`ICE servers handed out: stun:relay.example.com:${relay.stunPort}\n`) === true, { timeout: 5000 })
    await relay.stop('SIGKILL')

    relay = await startRelayProcess(['--stun-port', '0', '--announce', '/dns4/relay.example.com/tcp/443/wss', '--stun-announce', '2001:db8::1'])
    await pWaitFor(() => relay?.stderr().includes(`ICE servers handed out: stun:[2001:db8::1]:${relay.stunPort}\n`) === true, { timeout: 5000 })
  })
})
