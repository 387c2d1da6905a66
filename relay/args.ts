import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { parseArgs } from 'node:util'
import { DEFAULT_RELAY_OPTIONS } from './constants.ts'
import { UsageError } from './errors.ts'
import { needsTurnCredentials, parseIceServerFlag, parseStunAnnounce } from './ice.ts'
import { trustedProxies } from './websockets/index.ts'
import type { RelayProgramInit } from './relay.ts'

interface FlagSpec {
  type: 'string' | 'boolean'
  multiple?: boolean
  short?: string
  description: string
  default?: string
}

/**
 * The relay program's flags, with the help text `--help` prints.
 */
export const FLAGS: Record<string, FlagSpec> = {
  host: { type: 'string', description: 'interface to listen on', default: DEFAULT_RELAY_OPTIONS.host },
  port: { type: 'string', description: 'WebSocket port (0 = any free port)', default: `${DEFAULT_RELAY_OPTIONS.port}` },
  'tcp-port': { type: 'string', description: 'TCP port (0 = any free port, off = no TCP listener)', default: `${DEFAULT_RELAY_OPTIONS.tcpPort}` },
  announce: { type: 'string', multiple: true, description: 'multiaddr to announce instead of the listen addresses (repeatable)' },
  'key-file': { type: 'string', description: 'protobuf-encoded private key; created (mode 0600) when missing, never overwritten', default: DEFAULT_RELAY_OPTIONS.keyFile },
  'max-reservations': { type: 'string', description: 'reservations held at once', default: `${DEFAULT_RELAY_OPTIONS.maxReservations}` },
  'max-reservations-per-ip': { type: 'string', description: 'reservations held at once by clients from one IP', default: `${DEFAULT_RELAY_OPTIONS.maxReservationsPerIp}` },
  'reservation-ttl': { type: 'string', description: 'reservation lifetime in seconds (clients renew before it ends)', default: `${DEFAULT_RELAY_OPTIONS.reservationTtl}` },
  'circuit-duration': { type: 'string', description: 'longest a relayed connection may stay open, in seconds (0 = no limit)', default: `${DEFAULT_RELAY_OPTIONS.circuitDuration}` },
  'circuit-data': { type: 'string', description: 'most bytes a relayed connection may carry in each direction (0 = no limit)', default: `${DEFAULT_RELAY_OPTIONS.circuitData}` },
  'reservation-rate': { type: 'string', description: 'new reservations per peer per minute (renewing a live reservation is not counted)', default: `${DEFAULT_RELAY_OPTIONS.reservationRate}` },
  'max-circuits-per-peer': { type: 'string', description: 'relayed connections open at once per peer, as source or destination', default: `${DEFAULT_RELAY_OPTIONS.maxCircuitsPerPeer}` },
  'max-circuits': { type: 'string', description: 'relayed connections open at once across all peers', default: `${DEFAULT_RELAY_OPTIONS.maxCircuits}` },
  'max-circuits-per-ip': { type: 'string', description: 'relayed connections open at once from or to clients of one IP (an IPv6 /64 counts as one)', default: `${DEFAULT_RELAY_OPTIONS.maxCircuitsPerIp}` },
  'max-relayed-bytes-per-second': { type: 'string', description: 'bytes per second all relayed connections together may carry; past it they are slowed, and new ones refused once it has been saturated for 5 s (0 = no budget)', default: `${DEFAULT_RELAY_OPTIONS.maxRelayedBytesPerSecond}` },
  'max-connections': { type: 'string', description: 'connections open at once', default: `${DEFAULT_RELAY_OPTIONS.maxConnections}` },
  'inbound-per-ip': { type: 'string', description: 'new inbound connections accepted per second from one IP', default: `${DEFAULT_RELAY_OPTIONS.inboundPerIp}` },
  'max-pending': { type: 'string', description: 'inbound connections mid-handshake at once', default: `${DEFAULT_RELAY_OPTIONS.maxPending}` },
  'ws-max-frame': { type: 'string', description: 'largest WebSocket message in bytes; a larger one closes the connection', default: `${DEFAULT_RELAY_OPTIONS.wsMaxFrame}` },
  'ws-upgrade-timeout': { type: 'string', description: 'seconds from accept to a completed WebSocket upgrade (TLS and PROXY header included)', default: `${DEFAULT_RELAY_OPTIONS.wsUpgradeTimeout}` },
  'ws-idle-timeout': { type: 'string', description: 'seconds without a byte either way after which a WebSocket port socket is closed', default: `${DEFAULT_RELAY_OPTIONS.wsIdleTimeout}` },
  'ws-max-unupgraded': { type: 'string', description: 'sockets on the WebSocket port not yet upgraded, at once', default: `${DEFAULT_RELAY_OPTIONS.wsMaxUnupgraded}` },
  'ws-max-unupgraded-per-ip': { type: 'string', description: 'sockets on the WebSocket port not yet upgraded from one client address (IPv6: one /64), at once', default: `${DEFAULT_RELAY_OPTIONS.wsMaxUnupgradedPerIp}` },
  'trust-proxy': { type: 'string', multiple: true, description: 'CIDR of a reverse proxy whose PROXY protocol header (v1/v2) or X-Forwarded-For gives the client address (repeatable)' },
  bootstrap: { type: 'string', multiple: true, description: 'another relay to join the DHT with (repeatable)' },
  'dht-max-providers': { type: 'string', description: 'DHT provider records kept for other peers, in all', default: `${DEFAULT_RELAY_OPTIONS.dhtMaxProviders}` },
  'dht-max-providers-per-peer': { type: 'string', description: 'keys one peer may be a DHT provider of at once', default: `${DEFAULT_RELAY_OPTIONS.dhtMaxProvidersPerPeer}` },
  'dht-max-providers-per-ip': { type: 'string', description: 'DHT provider records kept for providers connecting from one IP (an IPv6 /64 counts as one)', default: `${DEFAULT_RELAY_OPTIONS.dhtMaxProvidersPerIp}` },
  'dht-max-providers-per-key': { type: 'string', description: 'providers kept per DHT key (a room: its members)', default: `${DEFAULT_RELAY_OPTIONS.dhtMaxProvidersPerKey}` },
  'dht-max-providers-per-key-per-ip': { type: 'string', description: 'providers kept per DHT key whose connections come from one IP (an IPv6 /64 counts as one)', default: `${DEFAULT_RELAY_OPTIONS.dhtMaxProvidersPerKeyPerIp}` },
  'dht-provider-ttl': { type: 'string', description: 'how long a provider record of another peer is kept after it was received, in seconds', default: `${DEFAULT_RELAY_OPTIONS.dhtProviderTtl}` },
  'dht-provide-rate': { type: 'string', description: 'provider records (new or renewed) one peer may store per minute', default: `${DEFAULT_RELAY_OPTIONS.dhtProvideRate}` },
  namespace: { type: 'string', multiple: true, description: 'namespace whose CID the relay provides in the DHT, for clients to find it (repeatable)', default: DEFAULT_RELAY_OPTIONS.namespace },
  'metrics-port': { type: 'string', description: 'port for Prometheus /metrics and /health (0 = off)', default: `${DEFAULT_RELAY_OPTIONS.metricsPort}` },
  'metrics-host': { type: 'string', description: 'interface for --metrics-port; metrics are public on any other than loopback', default: DEFAULT_RELAY_OPTIONS.metricsHost },
  'http-port': { type: 'string', description: 'port for the browser chat page and /relaymesh.json, on --host (0 = any free port, off = no page)', default: 'off' },
  'http-root': { type: 'string', description: 'folder of the page served on --http-port (default: the built browser chat example)' },
  'tls-cert': { type: 'string', description: 'PEM certificate chain: --port serves WebSockets over TLS (/tls/ws) and --http-port https; reloaded on SIGHUP (needs --tls-key)' },
  'tls-key': { type: 'string', description: 'PEM private key of --tls-cert' },
  'stun-port': { type: 'string', description: 'UDP port of the STUN server, on --host (0 = any free port, off = no STUN server)', default: 'off' },
  'stun-announce': { type: 'string', description: 'host name or address clients reach the STUN server on (default: the host of the first --announce, else --host)' },
  'ice-server': { type: 'string', multiple: true, description: 'STUN/TURN server handed out to clients besides the relay\'s own STUN: stun:host[:port] or turn:user:password@host[:port][?transport=udp|tcp] (repeatable)' },
  'turn-secret-file': { type: 'string', description: 'file holding coturn\'s static-auth-secret: --ice-server TURN URLs given without credentials get time-limited ones (use-auth-secret)' },
  config: { type: 'string', description: 'JSON file of flags, {"port": 443, "announce": ["..."]}; flags and RELAYMESH_RELAY_* variables override it' },
  help: { type: 'boolean', short: 'h', description: 'print this help and exit' }
}

/**
 * The `--help` text.
 */
export function usage (): string {
  const lines = Object.entries(FLAGS).map(([name, spec]) => {
    const flag = `--${name}${spec.type === 'string' ? ' <value>' : ''}`
    const def = spec.default != null ? ` (default: ${spec.default})` : ''
    return `  ${flag.padEnd(34)} ${spec.description}${def}`
  })

  return [
    'Usage: relaymesh-relay [flags]',
    '',
    'A public circuit relay v2 server and DHT server for relaymesh.',
    'Prints one JSON line {"event":"ready","peerId":...,"multiaddrs":[...]} on stdout when listening;',
    'logs go to stderr (DEBUG=relaymesh:* for more). SIGINT/SIGTERM stop it; SIGHUP reloads --tls-cert/--tls-key.',
    '',
    'Flags:',
    ...lines,
    '',
    `Each flag can also be set as an environment variable (--max-reservations: ${envName('max-reservations')};`,
    'repeatable flags comma-separated) or in --config. A flag wins over its variable, which wins over the file.'
  ].join('\n')
}

/**
 * Environment variables that set flags start with this.
 */
export const ENV_PREFIX = 'RELAYMESH_RELAY_'

/**
 * The environment variable of a flag: `--max-reservations` is
 * `RELAYMESH_RELAY_MAX_RESERVATIONS`.
 */
export function envName (flag: string): string {
  return `${ENV_PREFIX}${flag.toUpperCase().replace(/-/g, '_')}`
}

type Values = Record<string, string | string[] | boolean | undefined>

/** flag values from `RELAYMESH_RELAY_*` variables, and where each came from */
function fromEnv (env: NodeJS.ProcessEnv, sources: Map<string, string>): Values {
  const values: Values = {}

  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || value == null) {
      continue
    }

    const flag = key.slice(ENV_PREFIX.length).toLowerCase().replace(/_/g, '-')
    const spec = FLAGS[flag]

    if (spec == null || spec.type !== 'string') {
      throw new UsageError(`${key}: no such setting (see relaymesh-relay --help)`)
    }

    values[flag] = spec.multiple === true ? value.split(',').map(v => v.trim()) : value
    sources.set(flag, key)
  }

  return values
}

/** flag values from a `--config` JSON file, and where each came from */
function fromConfig (file: string, sources: Map<string, string>): Values {
  let config: unknown

  try {
    config = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err: any) {
    throw new UsageError(`--config: cannot read ${file}: ${err.code ?? String(err.message).split('\n')[0]}`)
  }

  if (config == null || typeof config !== 'object' || Array.isArray(config)) {
    throw new UsageError(`--config: ${file} must hold a JSON object of flags`)
  }

  const values: Values = {}

  for (const [flag, value] of Object.entries(config)) {
    const spec = FLAGS[flag]
    const where = `"${flag}" in ${file}`

    if (spec == null || spec.type !== 'string' || flag === 'config') {
      throw new UsageError(`--config: ${where}: no such setting (see relaymesh-relay --help)`)
    }

    const scalar = (v: unknown): string => {
      if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) {
        return String(v)
      }

      throw new UsageError(`${where} must be a string or a number${spec.multiple === true ? ', or a list of them' : ''}`)
    }

    values[flag] = spec.multiple === true ? [value].flat().map(scalar) : scalar(value)
    sources.set(flag, where)
  }

  return values
}

function integer (label: string, value: string | undefined, min: number, max: number): number {
  if (value == null || !/^-?\d+$/.test(value.trim())) {
    throw new UsageError(`${label} must be a whole number, got "${value ?? ''}"`)
  }

  const n = Number(value)

  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${label} must be between ${min} and ${max}, got ${value}`)
  }

  return n
}

function host (label: string, value: string): string {
  if (isIP(value) === 0) {
    throw new UsageError(`${label} must be an IP address, got "${value}"`)
  }

  return value
}

function namespaces (label: string, values: string[] | undefined): string[] {
  if (values == null) {
    return [DEFAULT_RELAY_OPTIONS.namespace]
  }

  if (values.some(ns => ns.trim().length === 0)) {
    throw new UsageError(`${label} must not be empty`)
  }

  return [...new Set(values)]
}

function cidrs (label: string, values: string[] | undefined): string[] {
  const list = (values ?? []).map(v => v.trim())

  try {
    trustedProxies(list)
  } catch (err: any) {
    throw new UsageError(`${label}: ${err.message}`)
  }

  return list
}

/**
 * The result of parsing the command line: either a request for help or the
 * relay's options.
 */
export type ParsedArgs = { help: true } | { help: false, init: RelayProgramInit }

/**
 * Parses the relay program's settings: its command line, then `env`'s
 * `RELAYMESH_RELAY_*` variables, then the `--config` JSON file (or
 * `RELAYMESH_RELAY_CONFIG`); the first that sets a flag wins. Throws a
 * {@link UsageError} naming the flag, variable or file key for anything it
 * cannot use.
 */
export function parseRelayArgs (argv: string[], env: NodeJS.ProcessEnv = {}): ParsedArgs {
  let flags: Values

  try {
    flags = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(FLAGS).map(([name, { type, multiple, short }]) => [name, { type, ...(multiple === true ? { multiple } : {}), ...(short != null ? { short } : {}) }])),
      strict: true,
      allowPositionals: false
    }).values as Record<string, string | string[] | boolean | undefined>
  } catch (err: any) {
    throw new UsageError(String(err.message).split('\n')[0].replace(/\. To specify.*$/, ''))
  }

  if (flags.help === true) {
    return { help: true }
  }

  // a variable wins over the file: its values, and its name in errors
  const envSources = new Map<string, string>()
  const envValues = fromEnv(env, envSources)
  const configFile = (flags.config ?? envValues.config) as string | undefined
  const sources = new Map<string, string>()
  const values: Values = { ...(configFile != null ? fromConfig(configFile, sources) : {}), ...envValues }
  envSources.forEach((source, flag) => sources.set(flag, source))

  for (const [flag, value] of Object.entries(flags)) {
    if (value != null) {
      values[flag] = value
      sources.delete(flag)
    }
  }

  /** the flag, variable or file key a value came from, for error messages */
  const label = (name: string): string => {
    const source = sources.get(name)
    return source == null ? `--${name}` : `--${name} (${source})`
  }
  const str = (name: string): string | undefined => values[name] as string | undefined
  const num = (name: string, min: number, max: number): number => integer(label(name), str(name) ?? FLAGS[name].default, min, max)
  const MAX = Number.MAX_SAFE_INTEGER


  const iceServers = ((values['ice-server'] as string[] | undefined) ?? []).map(value => parseIceServerFlag(label('ice-server'), value))

  if (str('turn-secret-file') == null && iceServers.some(needsTurnCredentials)) {
    throw new UsageError(`${label('ice-server')}: TURN server without a username and credential (turn:user:password@host, or --turn-secret-file)`)
  }

  return {
    help: false,
    init: {
      host: str('host') ?? DEFAULT_RELAY_OPTIONS.host,
      port: num('port', 0, 65535),
      tcpPort: str('tcp-port') === 'off' ? -1 : num('tcp-port', 0, 65535),
      announce: (values.announce as string[] | undefined) ?? [],
      keyFile: str('key-file') ?? DEFAULT_RELAY_OPTIONS.keyFile,
      maxReservations: num('max-reservations', 1, MAX),
      maxReservationsPerIp: num('max-reservations-per-ip', 1, MAX),
      reservationTtl: num('reservation-ttl', 1, MAX / 1000),
      circuitDuration: num('circuit-duration', 0, MAX / 1000),
      circuitData: num('circuit-data', 0, MAX),
      reservationRate: num('reservation-rate', 1, MAX),
      maxCircuitsPerPeer: num('max-circuits-per-peer', 1, MAX),
      maxCircuits: num('max-circuits', 1, MAX),
      maxCircuitsPerIp: num('max-circuits-per-ip', 1, MAX),
      maxRelayedBytesPerSecond: num('max-relayed-bytes-per-second', 0, MAX),
      maxConnections: num('max-connections', 1, MAX),
      inboundPerIp: num('inbound-per-ip', 1, MAX),
      maxPending: num('max-pending', 1, MAX),
      wsMaxFrame: num('ws-max-frame', 1024, 64 * 1024 * 1024),
      wsUpgradeTimeout: num('ws-upgrade-timeout', 1, 3600),
      wsIdleTimeout: num('ws-idle-timeout', 1, MAX / 1000),
      wsMaxUnupgraded: num('ws-max-unupgraded', 1, MAX),
      wsMaxUnupgradedPerIp: num('ws-max-unupgraded-per-ip', 1, MAX),
      trustProxy: cidrs(label('trust-proxy'), values['trust-proxy'] as string[] | undefined),
      bootstrap: (values.bootstrap as string[] | undefined) ?? [],
      dhtMaxProviders: num('dht-max-providers', 1, MAX),
      dhtMaxProvidersPerPeer: num('dht-max-providers-per-peer', 1, MAX),
      dhtMaxProvidersPerIp: num('dht-max-providers-per-ip', 1, MAX),
      dhtMaxProvidersPerKey: num('dht-max-providers-per-key', 1, MAX),
      dhtMaxProvidersPerKeyPerIp: num('dht-max-providers-per-key-per-ip', 1, MAX),
      dhtProviderTtl: num('dht-provider-ttl', 1, MAX / 1000),
      dhtProvideRate: num('dht-provide-rate', 1, MAX),
      namespaces: namespaces(label('namespace'), values.namespace as string[] | undefined),
      metricsPort: num('metrics-port', 0, 65535),
      metricsHost: host(label('metrics-host'), str('metrics-host') ?? DEFAULT_RELAY_OPTIONS.metricsHost),
      httpPort: (str('http-port') ?? FLAGS['http-port'].default) === 'off' ? -1 : num('http-port', 0, 65535),
      httpRoot: str('http-root'),
      tlsCert: str('tls-cert'),
      tlsKey: str('tls-key'),
      stunPort: (str('stun-port') ?? 'off') === 'off' ? -1 : num('stun-port', 0, 65535),
      stunAnnounce: str('stun-announce') != null ? parseStunAnnounce(label('stun-announce'), str('stun-announce') ?? '') : undefined,
      iceServers,
      turnSecretFile: str('turn-secret-file')
    }
  }
}
