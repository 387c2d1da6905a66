#!/usr/bin/env node
/**
 * The `relaymesh-relay` command. See `relay/README.md`.
 */
// first: sets DEBUG_COLORS before libp2p's logger loads
import './log-colors.ts'
import { parseRelayArgs, usage } from './args.ts'
import { installMemoryHook } from './debug.ts'
import { startRelayProgram } from './relay.ts'
import type { RelayProgram } from './relay.ts'

const EXIT_USAGE = 2
const STOP_DEADLINE_MS = 2500

function fail (message: string): never {
  process.stderr.write(`relaymesh-relay: ${message}\n`)
  process.exit(EXIT_USAGE)
}

async function main (): Promise<void> {
  let parsed

  try {
    parsed = parseRelayArgs(process.argv.slice(2), process.env)
  } catch (err: any) {
    fail(`${err.message}\nTry 'relaymesh-relay --help'.`)
  }

  if (parsed.help) {
    process.stdout.write(`${usage()}\n`)
    return
  }

  let relay: RelayProgram

  try {
    relay = await startRelayProgram(parsed.init)
  } catch (err: any) {
    if (['UsageError', 'KeyFileError', 'ListenError'].includes(err.name)) {
      fail(err.message)
    }

    fail(`could not start: ${err.message}`)
  }

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      return
    }

    stopping = true
    process.stderr.write(`relaymesh-relay: ${signal}, stopping\n`)

    // exit 0 within 3 s even if a peer holds a stream open
    const deadline = setTimeout(() => {
      process.stderr.write('relaymesh-relay: stop took too long, exiting\n')
      process.exit(0)
    }, STOP_DEADLINE_MS)
    deadline.unref()

    relay.stop()
      .catch((err: Error) => { process.stderr.write(`relaymesh-relay: error while stopping: ${err.message}\n`) })
      .finally(() => {
        process.exit(0)
      })
  }

  process.on('SIGTERM', () => { stop('SIGTERM') })
  process.on('SIGINT', () => { stop('SIGINT') })
  process.on('SIGHUP', () => {
    if (!relay.tls) {
      process.stderr.write('relaymesh-relay: SIGHUP, nothing to reload (no --tls-cert)\n')
      return
    }

    relay.reloadTls().then(() => {
      process.stderr.write('relaymesh-relay: SIGHUP, reloaded the TLS certificate\n')
    }, (err: Error) => {
      process.stderr.write(`relaymesh-relay: SIGHUP, kept the old TLS certificate: ${err.message}\n`)
    })
  })

  // benchmarks and profiling only (RELAYMESH_DEBUG_MEMORY=1): SIGUSR2 prints memory use after a full GC
  installMemoryHook(() => {
    const stats = (relay.node.services as any).relay?.stats
    return {
      reservations: stats?.reservations ?? 0,
      connections: relay.node.getConnections().length,
      ...Object.fromEntries(Object.entries(stats?.refusals ?? {}).filter(([, n]) => n !== 0).map(([reason, n]) => [`refused_${reason}`, n]))
    }
  })

  // the handlers are in place before anyone can read the ready line
  const page = relay.httpPort != null ? `${relay.tls ? 'https' : 'http'}://${urlHost(parsed.init.host)}:${relay.httpPort}/` : undefined
  const ready = {
    event: 'ready',
    peerId: relay.node.peerId.toString(),
    multiaddrs: relay.multiaddrs.map(ma => ma.toString()),
    ...(page != null ? { page } : {}),
    ...(relay.stun != null ? { stunPort: relay.stun.port } : {})
  }
  process.stdout.write(`${JSON.stringify(ready)}\n`)
  process.stderr.write(`relaymesh-relay: ${ready.peerId} listening on\n${ready.multiaddrs.map(ma => `  ${ma}`).join('\n')}\n`)

  parsed.init.namespaces.forEach((namespace, i) => {
    process.stderr.write(`relaymesh-relay: providing namespace ${namespace} (${relay.namespaceCids[i]}) in the DHT\n`)
  })

  if (relay.stun != null) {
    process.stderr.write(`relaymesh-relay: STUN on udp ${urlHost(parsed.init.host)}:${relay.stun.port}\n`)
  }

  if (relay.iceServers.length > 0) {
    process.stderr.write(`relaymesh-relay: ICE servers handed out: ${relay.iceServers.flatMap(s => s.urls).join(' ')}\n`)
  }

  if (relay.metricsPort != null) {
    process.stderr.write(`relaymesh-relay: metrics on http://${urlHost(parsed.init.host)}:${relay.metricsPort}/metrics\n`)
  }

  if (page != null) {
    const ws = ready.multiaddrs.find(ma => ma.includes('/ws/')) ?? ready.multiaddrs[0]
    process.stderr.write([
      '',
      `  Chat page: ${page}?room=lobby`,
      '  Open it in two browser tabs (or two browsers): each tab is a member of the room "lobby".',
      '  A member in a terminal, in another shell:',
      `    npm run chat -- --relay ${ws} --room lobby`,
      '  Ctrl-C stops the relay.',
      '',
      ''
    ].join('\n'))
  }
}

/** `host` as it goes in a URL to open: a wildcard address is reached on loopback */
function urlHost (host: string): string {
  if (host === '0.0.0.0' || host === '::') {
    return host === '::' ? '[::1]' : '127.0.0.1'
  }

  return host.includes(':') ? `[${host}]` : host
}

main().catch((err: Error) => {
  fail(`unexpected error: ${err.message}`)
})
