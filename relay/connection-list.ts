import type { Connection, Libp2p, PeerId } from '@libp2p/interface'

/** the part of libp2p's (internal) connection manager this module touches */
interface ConnectionManagerLike {
  getConnections(peerId?: PeerId): Connection[]
  getConnectionsMap(): { values(): Iterable<Connection[]> }
}

/**
 * Makes `node`'s list of all its connections linear in their number.
 *
 * libp2p's `ConnectionManager.getConnections()` without a peer id (libp2p
 * 3.3.11) builds the list with one `Array.concat` per peer, copying what it
 * has so far each time: quadratic in the number of connections. libp2p calls
 * it on every inbound connection, twice (the inbound check and the
 * connection pruner), so a relay holding 2,000 connections spent 12 % of its
 * CPU while admitting clients in that one function. This replaces the
 * method on `node`'s connection manager, and only there, with one that
 * gives the same connections in the same order.
 *
 * Upstream: the draft report is in relay/README.md ("libp2p's
 * `getConnections()` is quadratic").
 */
export function linearConnectionList (node: Libp2p): void {
  const manager = (node as unknown as { components: { connectionManager: ConnectionManagerLike } }).components.connectionManager
  const byPeer = manager.getConnections.bind(manager)

  manager.getConnections = (peerId?: PeerId): Connection[] => {
    if (peerId != null) {
      return byPeer(peerId)
    }

    const all: Connection[] = []

    for (const connections of manager.getConnectionsMap().values()) {
      for (const connection of connections) {
        all.push(connection)
      }
    }

    return all
  }
}
