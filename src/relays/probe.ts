import { Circuit } from '@multiformats/multiaddr-matcher'
import { InvalidRelayError } from './errors.ts'
import type { RelaysComponents } from './index.ts'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * An open connection to `peer` that is not itself relayed, if there is one.
 */
export function directConnection (components: Pick<RelaysComponents, 'connectionManager'>, peer: PeerId): Connection | undefined {
  return components.connectionManager.getConnections(peer)
    .find(conn => conn.status === 'open' && !Circuit.matches(conn.remoteAddr))
}

/**
 * The open direct connection to a relay, or a new one to `addrs`. A relay
 * reached only through another relay is no use as a relay.
 */
export async function connectToRelay (components: Pick<RelaysComponents, 'connectionManager'>, peer: PeerId, addrs: Multiaddr[], signal: AbortSignal): Promise<Connection> {
  const existing = directConnection(components, peer)

  if (existing != null) {
    return existing
  }

  const connection = await components.connectionManager.openConnection(addrs, { signal })

  if (Circuit.matches(connection.remoteAddr)) {
    throw new InvalidRelayError('reached only over a relayed connection')
  }

  return connection
}

/**
 * The median of `samples` ping round trips on `connection`, in ms. The DHT
 * pings peers too and ping allows few streams per connection, so a ping
 * refused for that reason is tried again.
 */
export async function medianRoundTrip (components: Pick<RelaysComponents, 'ping'>, connection: Connection, samples: number, signal: AbortSignal): Promise<{ median: number, samples: number[] }> {
  const rtts: number[] = []

  while (rtts.length < samples) {
    rtts.push(await pingOnce(components, connection, signal))
  }

  rtts.sort((a, b) => a - b)
  return { median: rtts[Math.floor(rtts.length / 2)], samples: rtts }
}

async function pingOnce (components: Pick<RelaysComponents, 'ping'>, connection: Connection, signal: AbortSignal): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await components.ping.ping(connection.remoteAddr, { signal })
    } catch (err: any) {
      if (err.name !== 'TooManyOutboundProtocolStreamsError' || attempt >= 10) {
        throw err
      }

      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
}
