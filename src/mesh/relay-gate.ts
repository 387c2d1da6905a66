import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, CODE_P2P_CIRCUIT, multiaddr } from '@multiformats/multiaddr'
import { RELAY_V2_HOP_CODEC } from '../circuit/constants.ts'
import { MAX_DIALED_RELAYS, MAX_UNVERIFIED_RELAY_ADDRS, UNVERIFIED_RELAY_DIALS, UNVERIFIED_RELAY_DIALS_TOTAL, UNVERIFIED_RELAY_WINDOW } from './constants.ts'
import type { MeshComponents } from './index.ts'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The relay part of a `/p2p-circuit` address: the relay's peer id and the
 * address it is reached on (without the peer id).
 */
export interface CircuitRelayPart {
  relay: string
  /** the relay's transport address, e.g. `/ip4/1.2.3.4/tcp/443/tls/ws` */
  transport: string
  /** what follows the relay's peer id: `/p2p-circuit/...` */
  circuit: string
}

/**
 * Splits a `/p2p-circuit` address into its relay part; `undefined` when the
 * address is not relayed or does not name the relay's peer id.
 */
export function circuitRelayPart (addr: Multiaddr): CircuitRelayPart | undefined {
  const components = addr.getComponents()
  const circuit = components.findIndex(c => c.code === CODE_P2P_CIRCUIT)

  if (circuit < 1 || components[circuit - 1].code !== CODE_P2P) {
    return undefined
  }

  const relay = components[circuit - 1].value
  const transport = multiaddr(components.slice(0, circuit - 1)).toString()

  if (relay == null || transport === '/') {
    return undefined
  }

  return { relay, transport, circuit: multiaddr(components.slice(circuit)).toString() }
}

interface Budget {
  dials: number
  since: number
}

/**
 * Decides which relays a member's addresses may be dialed through. A record
 * or a DHT entry may name any host:port as a relay: dialed as one, every
 * member of a room would connect there again and again (one record made two
 * members open 38 TCP connections to a port that was no relay in 30 s).
 *
 * A relay is dialed on an address this node vouches for, whatever host the
 * member named: an open connection to it (when it is a relay the `relays`
 * service holds or measured, or its peer said through identify that it
 * serves the hop protocol), else the address the `relays` service holds or
 * measured it on. Any other relay is unverified: its host:port is dialed at
 * most {@link UNVERIFIED_RELAY_DIALS} times per
 * {@link UNVERIFIED_RELAY_WINDOW}, all unverified ones together at most
 * {@link UNVERIFIED_RELAY_DIALS_TOTAL} times, for all rooms of the node,
 * whatever peer ids the addresses claim; and it is dialed by us, on that one
 * address, before the circuit dial (the circuit transport would dial every
 * address the peer store holds for that peer id).
 *
 * At most {@link MAX_DIALED_RELAYS} relays per dial, one address each,
 * vouched-for ones first.
 */
export class RelayGate {
  private readonly components: MeshComponents
  /** unverified relay transport addresses, in the order first dialed */
  private readonly budgets = new Map<string, Budget>()
  /** all unverified dials in the current window */
  private total: Budget = { dials: 0, since: 0 }

  constructor (components: MeshComponents) {
    this.components = components
  }

  /**
   * The subset of `addrs` (each `/p2p-circuit`, possibly `/webrtc`) to dial
   * now, each on an address this node vouches for or has just reached the
   * relay on. Unverified relays are charged to their host:port and dialed
   * here, one address each; those that cannot be reached are left out.
   */
  async admit (addrs: Multiaddr[], options: AbortOptions = {}, now = Date.now()): Promise<Multiaddr[]> {
    const admitted: Multiaddr[] = []
    // relays (peer ids) this dial goes through, and their unverified host:ports
    const through = new Set<string>()
    const hosts = new Set<string>()
    const unverified: CircuitRelayPart[] = []

    for (const addr of addrs) {
      const part = circuitRelayPart(addr)

      if (part == null || through.has(part.relay) || through.size >= MAX_DIALED_RELAYS) {
        continue
      }

      const vouched = await this.vouchedTransport(part.relay)

      if (vouched != null) {
        admitted.push(vouched === part.transport ? addr : multiaddr(`${vouched}/p2p/${part.relay}${part.circuit}`))
        through.add(part.relay)
      } else {
        unverified.push(part)
      }
    }

    const reach: Array<Promise<Multiaddr | undefined>> = []

    for (const part of unverified) {
      if (through.size >= MAX_DIALED_RELAYS) {
        break
      }

      // one address per host:port a dial, whatever peer ids it claims
      if (through.has(part.relay) || hosts.has(part.transport) || !this.charge(part.transport, now)) {
        continue
      }

      through.add(part.relay)
      hosts.add(part.transport)
      reach.push(this.components.connectionManager.openConnection(multiaddr(`${part.transport}/p2p/${part.relay}`), options)
        .then(() => multiaddr(`${part.transport}/p2p/${part.relay}${part.circuit}`), () => undefined))
    }

    for (const addr of await Promise.all(reach)) {
      if (addr != null) {
        admitted.push(addr)
      }
    }

    return admitted
  }

  /** unverified host:ports tracked (for tests and metrics) */
  get tracked (): number {
    return this.budgets.size
  }

  /**
   * The address this node vouches for relay `relay` on: an open connection
   * (to a relay the `relays` service holds or measured, or to a peer that
   * serves the hop protocol), else the address the service holds or measured
   * it on; `undefined` for any other relay.
   */
  private async vouchedTransport (relay: string): Promise<string | undefined> {
    let relays: MeshComponents['relays']

    try {
      // libp2p's components throw for a service the node does not have
      relays = this.components.relays
    } catch {}

    const peerId = peerIdFromString(relay)
    const held = relays?.selected.find(r => r.peerId.equals(peerId))
    const measured = relays?.candidates.find(c => c.peerId.equals(peerId) && c.measuredAt != null && c.failures === 0)
    // by peer id: libp2p builds the list of all connections peer by peer
    const open = this.components.connectionManager.getConnections(peerId).find(conn => conn.status === 'open' && conn.limits == null)

    if (open != null && (held != null || measured != null || await this.servesHop(peerId))) {
      return withoutPeerId(open.remoteAddr)
    }

    if (held != null) {
      return withoutPeerId(held.addr)
    }

    const addr = measured?.addrs.find(addr => !addr.toString().includes('/dnsaddr/'))
    return addr != null ? withoutPeerId(addr) : undefined
  }

  private async servesHop (peerId: PeerId): Promise<boolean> {
    try {
      const peer = await this.components.peerStore.get(peerId)
      return peer.protocols.includes(RELAY_V2_HOP_CODEC)
    } catch {
      return false
    }
  }

  /** takes one dial from `transport`'s budget and the total; false when either has none */
  private charge (transport: string, now: number): boolean {
    if (now - this.total.since >= UNVERIFIED_RELAY_WINDOW) {
      this.total = { dials: 0, since: now }
    }

    let budget = this.budgets.get(transport)

    if (budget != null && now - budget.since >= UNVERIFIED_RELAY_WINDOW) {
      this.budgets.delete(transport)
      budget = undefined
    }

    if (budget == null) {
      this.prune(now)
      budget = { dials: 0, since: now }
      this.budgets.set(transport, budget)
    }

    if (budget.dials >= UNVERIFIED_RELAY_DIALS || this.total.dials >= UNVERIFIED_RELAY_DIALS_TOTAL) {
      return false
    }

    budget.dials++
    this.total.dials++
    return true
  }

  /**
   * Forgets budgets whose window is over; at the bound, the oldest goes (it
   * may then be dialed again: the bound keeps memory flat, the window keeps
   * the rate low).
   */
  private prune (now: number): void {
    for (const [transport, budget] of this.budgets) {
      if (now - budget.since >= UNVERIFIED_RELAY_WINDOW) {
        this.budgets.delete(transport)
      }
    }

    while (this.budgets.size >= MAX_UNVERIFIED_RELAY_ADDRS) {
      const oldest = this.budgets.keys().next().value

      if (oldest == null) {
        break
      }

      this.budgets.delete(oldest)
    }
  }
}

function withoutPeerId (addr: Multiaddr): string {
  return addr.decapsulateCode(CODE_P2P).toString()
}
