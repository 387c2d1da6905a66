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

  it('serves no page by default or with --http-port off, and a page on any free port with --http-port 0', () => {
    expect(init([])).to.include({ httpPort: -1 })
    expect(init(['--http-port', 'off'])).to.include({ httpPort: -1 })
    expect(init(['--http-port', '0'])).to.include({ httpPort: 0 })
    expect(init([], { RELAYMESH_RELAY_HTTP_PORT: '8080' })).to.include({ httpPort: 8080 })
    expect(() => parseRelayArgs(['--http-port', 'of'], {})).to.throw(/--http-port must be a whole number/)
  })

  it('ignores other variables, and refuses unknown RELAYMESH_RELAY_* ones and --help as a setting', () => {
    expect(init([], { PORT: '1', RELAYMESH_OTHER: 'x' })).to.include({ port: 9090 })
    expect(() => parseRelayArgs([], { RELAYMESH_RELAY_HELP: '1' })).to.throw(/RELAYMESH_RELAY_HELP: no such setting/)
    expect(() => parseRelayArgs([], { RELAYMESH_RELAY_PROT: '1' })).to.throw(/RELAYMESH_RELAY_PROT: no such setting/)
  })

  it('parses the hardening settings with the same rules: whole numbers in range, an IP address for --metrics-host', () => {
    expect(init([])).to.include({
      metricsHost: '127.0.0.1',
      maxCircuits: 1024,
      maxCircuitsPerIp: 256,
      maxRelayedBytesPerSecond: 32 * 1024 * 1024,
      dhtMaxProviders: 10_000,
      dhtMaxProvidersPerPeer: 32,
      dhtMaxProvidersPerIp: 1000,
      dhtMaxProvidersPerKey: 256,
      dhtMaxProvidersPerKeyPerIp: 8,
      dhtProviderTtl: 30 * 60 * 60,
      dhtProvideRate: 60
    })
    expect(init(['--metrics-host', '::1', '--max-circuits', '5', '--max-relayed-bytes-per-second', '0'], { RELAYMESH_RELAY_DHT_PROVIDER_TTL: '60' })).to.include({
      metricsHost: '::1', maxCircuits: 5, maxRelayedBytesPerSecond: 0, dhtProviderTtl: 60
    })

    expect(() => init(['--metrics-host', 'metrics.example.com'])).to.throw(/--metrics-host must be an IP address, got "metrics\.example\.com"/)
    expect(() => init([], { RELAYMESH_RELAY_METRICS_HOST: '' })).to.throw(/--metrics-host \(RELAYMESH_RELAY_METRICS_HOST\) must be an IP address/)
    expect(() => init(['--max-circuits', '0'])).to.throw(/--max-circuits must be between 1 and/)
    expect(() => init(['--max-circuits-per-ip', 'many'])).to.throw(/--max-circuits-per-ip must be a whole number, got "many"/)
    expect(() => init(['--max-relayed-bytes-per-second=-1'])).to.throw(/--max-relayed-bytes-per-second must be between 0 and/)
    expect(() => init([], { RELAYMESH_RELAY_DHT_PROVIDER_TTL: '0' })).to.throw(/--dht-provider-ttl \(RELAYMESH_RELAY_DHT_PROVIDER_TTL\) must be between 1 and/)
    expect(() => init(['--dht-provide-rate', '1.5'])).to.throw(/--dht-provide-rate must be a whole number/)
    expect(() => init(['--dht-max-providers-per-key', '0'])).to.throw(/--dht-max-providers-per-key must be between 1/)
    expect(() => init(['--dht-max-providers-per-key-per-ip', '0'])).to.throw(/--dht-max-providers-per-key-per-ip must be between 1/)
    expect(() => init([], { RELAYMESH_RELAY_DHT_MAX_PROVIDERS_PER_KEY_PER_IP: 'x' })).to.throw(/RELAYMESH_RELAY_DHT_MAX_PROVIDERS_PER_KEY_PER_IP/)
    expect(init([], { RELAYMESH_RELAY_DHT_MAX_PROVIDERS_PER_KEY_PER_IP: '3' })).to.include({ dhtMaxProvidersPerKeyPerIp: 3 })
  })
})
