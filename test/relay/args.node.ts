import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { FLAGS, envName, parseRelayArgs } from '../../relay/args.ts'
import type { RelayProgramInit } from '../../relay/relay.ts'

function init (argv: string[], env: NodeJS.ProcessEnv = {}): RelayProgramInit {
  const parsed = parseRelayArgs(argv, env)

  if (parsed.help) {
    throw new Error('help')
  }

  return parsed.init
}

describe('relay program settings: flags, RELAYMESH_RELAY_* variables, --config', () => {
  let config: string

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'relaymesh-config-'))
    config = join(dir, 'relay.json')
    await writeFile(config, JSON.stringify({
      port: 443,
      'max-reservations': 5,
      announce: ['/dns4/relay.example.com/tcp/443/tls/ws', '/dns4/relay.example.com/tcp/4001'],
      namespace: 'from-file',
      'tcp-port': 'off'
    }))
  })

  it('has a variable for every flag but --help', () => {
    expect(envName('max-reservations-per-ip')).to.equal('RELAYMESH_RELAY_MAX_RESERVATIONS_PER_IP')

    for (const flag of Object.keys(FLAGS).filter(f => f !== 'help')) {
      const name = envName(flag)
      expect(() => parseRelayArgs([], { [name]: FLAGS[flag].type === 'string' ? 'x' : '1' }), name).to.not.throw(/no such setting/)
    }
  })

  it('takes a flag first, then its variable, then the config file, then the default', () => {
    expect(init(['--config', config])).to.include({ port: 443, maxReservations: 5, tcpPort: -1 })
    expect(init(['--config', config]).announce).to.deep.equal(['/dns4/relay.example.com/tcp/443/tls/ws', '/dns4/relay.example.com/tcp/4001'])
    expect(init(['--config', config]).namespaces).to.deep.equal(['from-file'])

    const env = { RELAYMESH_RELAY_MAX_RESERVATIONS: '6', RELAYMESH_RELAY_NAMESPACE: 'a, b', RELAYMESH_RELAY_CONFIG: config }
    expect(init([], env)).to.include({ port: 443, maxReservations: 6 })
    expect(init([], env).namespaces).to.deep.equal(['a', 'b'])
    expect(init(['--max-reservations', '7'], env)).to.include({ maxReservations: 7 })
    expect(init([])).to.include({ maxReservations: 128, port: 9090 })

    // an error names where the value that won came from
    expect(() => parseRelayArgs([], { ...env, RELAYMESH_RELAY_PORT: 'abc' })).to.throw(/--port \(RELAYMESH_RELAY_PORT\) must be a whole number/)
  })

  it('ignores other variables, and refuses unknown RELAYMESH_RELAY_* ones and --help as a setting', () => {
    expect(init([], { PORT: '1', RELAYMESH_OTHER: 'x' })).to.include({ port: 9090 })
    expect(() => parseRelayArgs([], { RELAYMESH_RELAY_HELP: '1' })).to.throw(/RELAYMESH_RELAY_HELP: no such setting/)
    expect(() => parseRelayArgs([], { RELAYMESH_RELAY_PROT: '1' })).to.throw(/RELAYMESH_RELAY_PROT: no such setting/)
  })
})
