import { multiaddr } from '@multiformats/multiaddr'
import { Circuit, WebRTC } from '@multiformats/multiaddr-matcher'
import { isDirect } from './session.ts'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

function withPeer (addr: Multiaddr, peerId: PeerId): Multiaddr {
  return addr.getComponents().at(-1)?.value === peerId.toString() ? addr : addr.encapsulate(`/p2p/${peerId}`)
}

/**
 * A member's `/p2p-circuit/webrtc` addresses: those it signed, plus one for
 * every relayed address it signed (the same relay reaches both).
 */
export function webRTCAddrs (addrs: Multiaddr[], peerId: PeerId): Multiaddr[] {
  const found = new Map<string, Multiaddr>()

  for (const addr of addrs) {
    if (WebRTC.matches(addr)) {
      const ma = withPeer(addr, peerId)
      found.set(ma.toString(), ma)
    } else if (Circuit.matches(addr)) {
      const base = addr.toString().replace(/\/p2p\/[^/]+$/, '').replace(/\/p2p-circuit$/, '')
      const ma = multiaddr(`${base}/p2p-circuit/webrtc/p2p/${peerId}`)
      found.set(ma.toString(), ma)
    }
  }

  return [...found.values()]
}

/**
 * A member's relayed (`/p2p-circuit`, not WebRTC) addresses: those it
 * signed, plus one for every `/p2p-circuit/webrtc` address it signed (the
 * same relay reaches both).
 */
export function relayedAddrs (addrs: Multiaddr[], peerId: PeerId): Multiaddr[] {
  const found = new Map<string, Multiaddr>()

  for (const addr of addrs) {
    if (WebRTC.matches(addr) && addr.toString().includes('/p2p-circuit/webrtc')) {
      const ma = withPeer(multiaddr(addr.toString().replace('/p2p-circuit/webrtc', '/p2p-circuit')), peerId)
      found.set(ma.toString(), ma)
    } else if (Circuit.matches(addr) && !WebRTC.matches(addr)) {
      const ma = withPeer(addr, peerId)
      found.set(ma.toString(), ma)
    }
  }

  return [...found.values()]
}

/**
 * The open connection to use for a room stream: a direct one if there is one.
 */
export function bestConnection (connections: Connection[]): Connection | undefined {
  const open = connections.filter(conn => conn.status === 'open')

  return open.find(isDirect) ?? open[0]
}

/**
 * Connections to close once `keep` (direct) carries the room: relayed ones,
 * and direct ones without streams that failed or duplicate attempts left.
 */
export function redundantConnections (connections: Connection[], keep: Connection): Connection[] {
  return connections.filter(conn => conn.id !== keep.id && conn.status === 'open' && (!isDirect(conn) || conn.streams.length === 0))
}
