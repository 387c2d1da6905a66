import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { DEFAULT_DHT_PROTOCOL } from '../constants.ts'
import type { PeerInfo } from '@libp2p/interface'
import type { KadDHT, KadDHTComponents, KadDHTInit } from '@libp2p/kad-dht'

/**
 * relaymesh's own Kademlia DHT (`/relaymesh/kad/1.0.0` unless `protocol`
 * says otherwise): relays are its servers, members its clients. Used by
 * `createMeshNode` and the relay program.
 */
export function relaymeshDHT (mode: 'client' | 'server', init: Partial<KadDHTInit> = {}): (components: KadDHTComponents) => KadDHT {
  return kadDHT({
    clientMode: mode === 'client',
    // our DHT holds relays and members only, whose addresses may be private;
    // a client only uses the mapper to admit peers to its routing table
    peerInfoMapper: mode === 'client' ? withoutRelayedAddresses : passthroughMapper,
    logPrefix: 'relaymesh:dht',
    datastorePrefix: '/relaymesh/dht',
    metricsPrefix: 'relaymesh_dht',
    // every query waits for the first self-query, which stock starts after
    // 1 s; ours starts at once and waits for the first DHT peer (a relay)
    initialQuerySelfInterval: 0,
    ...init,
    protocol: init.protocol ?? DEFAULT_DHT_PROTOCOL
  })
}

/**
 * Drops a peer's relayed (`/p2p-circuit`) addresses. kad-dht admits every
 * provider a query returns to the routing table of the querying node, after a
 * `/ipfs/ping` that dials it, and queries it from then on. Room members are
 * providers reachable only through relays and do not serve the DHT: without
 * this mapper every member dialed, pinged and queried every other member it
 * found. A peer left without addresses stays off the routing table.
 */
export function withoutRelayedAddresses (peer: PeerInfo): PeerInfo {
  return {
    ...peer,
    multiaddrs: peer.multiaddrs.filter(addr => !addr.getComponents().some(component => component.name === 'p2p-circuit'))
  }
}
