import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, CODE_P2P_CIRCUIT, multiaddr } from '@multiformats/multiaddr'
import { RELAY_V2_HOP_CODEC } from '../circuit/constants.ts'
import { MAX_DIALED_RELAYS, MAX_UNVERIFIED_RELAY_ADDRS, UNVERIFIED_RELAY_DIALS, UNVERIFIED_RELAY_WINDOW } from './constants.ts'
import type { MeshComponents } from './index.ts'
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
 * An address is dialed through its relay when the relay is one the
 * `relays` service knows (a configured, discovered or held relay; then on
 * the address the service knows it by, so a member cannot point a known
 * relay's peer id at another host), or verified (a connection to that peer
 * id on that address is open and the peer said, through identify, that it
 * serves the relay hop protocol), or else while the address has budget:
 * {@link UNVERIFIED_RELAY_DIALS} dials per {@link UNVERIFIED_RELAY_WINDOW}
 * per host:port, for all rooms of the node together, whatever peer id the
 * address claims, and one address per host:port a dial.
 *
 * At most {@link MAX_DIALED_RELAYS} relays per dial, one address each, known
 * ones first.
 */
export class RelayGate {
  private readonly components: MeshComponents
  /** unverified relay transport addresses, in the order first dialed */
  private readonly budgets = new Map<string, Budget>()

  constructor (components: MeshComponents) {
    this.components = components
  }

  /**
   * The subset of `addrs` (each `/p2p-circuit`, possibly `/webrtc`) that may
   * be dialed now. Unverified ones are charged to their host:port.
   */
  async admit (addrs: Multiaddr[], now = Date.now()): Promise<Multiaddr[]> {
    const admitted: Multiaddr[] = []
    // relays (peer ids) this dial goes through, and their unverified host:ports
    const through = new Set<string>()
    const hosts = new Set<string>()
    const unverified: Array<{ part: CircuitRelayPart, addr: Multiaddr }> = []

    for (const addr of addrs) {
      const part = circuitRelayPart(addr)

      if (part == null || through.has(part.relay) || through.size >= MAX_DIALED_RELAYS) {
        continue
      }

      const known = this.knownTransport(part.relay)

      if (known != null) {
        // on the address we know it by, whatever host the member named
        admitted.push(known === part.transport ? addr : multiaddr(`${known}/p2p/${part.relay}${part.circuit}`))
        through.add(part.relay)
      } else if (await this.verified(part)) {
        admitted.push(addr)
        through.add(part.relay)
      } else {
        unverified.push({ part, addr })
      }
    }

    for (const { part, addr } of unverified) {
      if (through.size >= MAX_DIALED_RELAYS) {
        break
      }

      // one address per host:port a dial, whatever peer ids it claims
      if (through.has(part.relay) || hosts.has(part.transport) || !this.charge(part.transport, now)) {
        continue
      }

      admitted.push(addr)
      through.add(part.relay)
      hosts.add(part.transport)
    }

    return admitted
  }

  /** unverified host:ports tracked (for tests and metrics) */
  get tracked (): number {
    return this.budgets.size
  }

  /** the address the `relays` service knows relay `relay` by, if it does */
  private knownTransport (relay: string): string | undefined {
    let relays: MeshComponents['relays']

    try {
      // libp2p's components throw for a service the node does not have
      relays = this.components.relays
    } catch {}

    if (relays == null) {
      return undefined
    }

    const held = relays.selected.find(r => r.peerId.toString() === relay)

    if (held != null) {
      return withoutPeerId(held.addr)
    }

    const candidate = relays.candidates.find(c => c.peerId.toString() === relay)
    const addr = candidate?.addrs[0]

    return addr != null ? withoutPeerId(addr) : undefined
  }

  private async verified (part: CircuitRelayPart): Promise<boolean> {
    const open = this.components.connectionManager.getConnections().some(conn => {
      return conn.status === 'open' && conn.remotePeer.toString() === part.relay && conn.limits == null && withoutPeerId(conn.remoteAddr) === part.transport
    })

    if (!open) {
      return false
    }

    try {
      const peer = await this.components.peerStore.get(peerIdFromString(part.relay))
      return peer.protocols.includes(RELAY_V2_HOP_CODEC)
    } catch {
      return false
    }
  }

  /** takes one dial from `transport`'s budget; false when it has none */
  private charge (transport: string, now: number): boolean {
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

    if (budget.dials >= UNVERIFIED_RELAY_DIALS) {
      return false
    }

    budget.dials++
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
  const components = addr.getComponents()
  const end = components.at(-1)?.code === CODE_P2P ? components.length - 1 : components.length
  return multiaddr(components.slice(0, end)).toString()
}
