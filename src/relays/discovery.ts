import { Circuit } from '@multiformats/multiaddr-matcher'
import { relayNamespaceCid } from './namespace.ts'
import type { RelaysComponents } from './index.ts'
import type { Logger, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * A relay found in the DHT.
 */
export interface FoundRelay {
  peerId: PeerId
  /** its dialable, non-relayed addresses, each ending in `/p2p/<peer id>` */
  addrs: Multiaddr[]
}

/**
 * Providers of the relay namespace CID in the DHT, other than ourselves, with
 * at least one address that is not relayed. Malformed records are skipped with
 * a log line.
 */
export async function * findRelays (components: Pick<RelaysComponents, 'contentRouting' | 'peerId'>, namespace: string | undefined, log: Logger, signal: AbortSignal): AsyncGenerator<FoundRelay> {
  const cid = await relayNamespaceCid(namespace)

  for await (const provider of components.contentRouting.findProviders(cid, { signal })) {
    try {
      if (provider.id.equals(components.peerId)) {
        continue
      }

      const addrs = provider.multiaddrs
        .filter(ma => !Circuit.matches(ma))
        .map(ma => ma.encapsulate(`/p2p/${provider.id}`))

      if (addrs.length > 0) {
        yield { peerId: provider.id, addrs }
      }
    } catch (err: any) {
      log.error('ignoring malformed provider record - %e', err)
    }
  }
}
