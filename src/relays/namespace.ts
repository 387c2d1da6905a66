import { InvalidParametersError } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

/**
 * The namespace every relaymesh relay provides in relaymesh's DHT unless told
 * otherwise. A deployment that outgrows it shards it, for example
 * `relaymesh/relay/v1/eu`.
 */
export const DEFAULT_RELAY_NAMESPACE = 'relaymesh/relay/v1'

/**
 * The CID relays provide, and clients look up with `findProviders`, for a
 * namespace: the sha256 of its UTF-8 bytes as a CIDv0, the same as
 * `namespaceToCid` in `@libp2p/circuit-relay-v2` (which that package does not
 * export).
 */
export async function relayNamespaceCid (namespace: string = DEFAULT_RELAY_NAMESPACE): Promise<CID> {
  if (typeof namespace !== 'string' || namespace.length === 0) {
    throw new InvalidParametersError('a relay namespace must be a non-empty string')
  }

  const hash = await sha256.digest(new TextEncoder().encode(namespace))

  return CID.createV0(hash)
}
