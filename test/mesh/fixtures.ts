import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../../src/index.ts'
import { testNodeInit } from '../fixtures/options.ts'
import type { MeshNodeInit, RejectedMessage, RelaymeshServices, Room, RoomMessage } from '../../src/index.ts'
import type { RoomImpl } from '../../src/mesh/room.ts'
import type { Session } from '../../src/mesh/session.ts'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'

export type MeshNode = Libp2p<RelaymeshServices>

/** a member node reserved on `relay` only, without relay discovery */
export async function createMember (relay: string, init: MeshNodeInit = {}): Promise<MeshNode> {
  return createMeshNode(testNodeInit({
    bootstrap: [relay],
    relays: { relayCount: 1, discovery: false },
    ...init
  }))
}

/**
 * Throws unless every member `room` lists has a `route` its `state` allows:
 * a direct or relayed member is reached that way, a connecting or
 * unreachable one only through others or not at all.
 */
export function assertStateMatchesRoute (room: Room): void {
  for (const member of room.members) {
    const ok = member.state === 'direct' || member.state === 'relayed'
      ? member.route === member.state
      : member.route === 'forwarded' || member.route === 'none'

    if (!ok) {
      throw new Error(`room "${room.name}": member ${member.peerId} is ${member.state} but its route is ${member.route}`)
    }
  }
}

/** every member of `rooms` sees every other in `state` (and no member's state and route disagree) */
export function meshIs (rooms: Room[], nodes: MeshNode[], state: string): boolean {
  rooms.forEach(assertStateMatchesRoute)
  return rooms.every((room, i) => nodes.every((node, j) => i === j || room.member(node.peerId)?.state === state))
}

/** waits until every pair of `rooms` is on a direct connection */
export async function waitForFullMesh (rooms: Room[], nodes: MeshNode[], timeout = 20_000): Promise<void> {
  await pWaitFor(() => meshIs(rooms, nodes, 'direct'), { timeout, interval: 100 })
}

/** a one-line picture of who sees whom how, for failure messages */
export function describeMesh (rooms: Room[], nodes: MeshNode[]): string {
  return rooms.map((room, i) => `${i}: ${nodes.map((node, j) => i === j ? '-' : (room.member(node.peerId)?.state ?? '?')).join(' ')}`).join('\n')
}

/** a member whose connections to chosen peers can be cut and refused, and later allowed again */
export interface Partitionable {
  node: MeshNode
  cut(...peers: PeerId[]): Promise<void>
  /** allows these peers again */
  uncut(...peers: PeerId[]): void
  /** allows every peer again */
  heal(): void
}

export async function createPartitionable (relay: string, init: MeshNodeInit = {}): Promise<Partitionable> {
  const blocked = new Set<string>()
  const refused = (peer: PeerId): boolean => blocked.has(peer.toString())
  const node = await createMember(relay, {
    ...init,
    mesh: { reconnectMax: 2000, ...init.mesh },
    libp2p: {
      connectionGater: {
        denyDialPeer: refused,
        denyInboundEncryptedConnection: refused,
        denyOutboundEncryptedConnection: refused
      }
    }
  })

  return {
    node,
    async cut (...peers) {
      peers.forEach(peer => blocked.add(peer.toString()))
      await Promise.all(peers.map(async peer => node.hangUp(peer)))
    },
    uncut (...peers) {
      peers.forEach(peer => blocked.delete(peer.toString()))
    },
    heal () {
      blocked.clear()
    }
  }
}

/** cuts `members[i]` off from every other member, both ways */
export async function isolate (members: Partitionable[], i: number): Promise<void> {
  await Promise.all(members.filter((_, j) => j !== i).map(async other => Promise.all([members[i].cut(other.node.peerId), other.cut(members[i].node.peerId)])))
}

/** collects a room's `message` events */
export function inbox (room: Room): RoomMessage[] {
  const messages: RoomMessage[] = []
  room.addEventListener('message', (evt) => { messages.push(evt.detail) })
  return messages
}

/** `room` as this package implements it (tests read its internals) */
export function impl (room: Room): RoomImpl {
  return room as unknown as RoomImpl
}

/** waits for `condition`; on timeout fails naming `what`, with what `state()` says then */
export async function until (condition: () => boolean, what: string, timeout = 20_000, state?: () => unknown): Promise<void> {
  await pWaitFor(condition, {
    interval: 50,
    timeout: {
      milliseconds: timeout,
      fallback: () => {
        throw new Error(`timed out after ${timeout} ms waiting for ${what}${state == null ? '' : ` - ${JSON.stringify(state())}`}`)
      }
    }
  })
}

/** collects the messages `node` refuses */
export function rejections (node: MeshNode): RejectedMessage[] {
  const rejected: RejectedMessage[] = []
  node.services.mesh.addEventListener('mesh:message-rejected', (evt) => { rejected.push(evt.detail) })
  return rejected
}

/** the presence `room` holds of `peerId` */
export function presenceOf (room: Room, peerId: PeerId): unknown {
  return room.presence.find(p => p.peerId.equals(peerId))?.value
}

/** collects a room's `presence`, `ephemeral` or `direct` events */
export function collect<T> (room: Room, event: 'presence' | 'ephemeral' | 'direct'): T[] {
  const events: T[] = []
  room.addEventListener(event, (evt: any) => { events.push(evt.detail) })
  return events
}

/**
 * Waits until every room's streams with its members stay the same for
 * `quiet` ms: right after the mesh is full, a pair may still swap a stream
 * for a better ranked one, which tests that hold a stream must not meet.
 */
export async function waitForSettledStreams (rooms: Room[], quiet = 1000, timeout = 20_000): Promise<void> {
  const snapshot = (): unknown[] => rooms.flatMap(room => impl(room).all().map(member => member.session))
  let last = snapshot()
  let since = Date.now()
  await until(() => {
    const now = snapshot()

    if (now.length !== last.length || now.some((session, i) => session !== last[i])) {
      last = now
      since = Date.now()
      return false
    }

    return Date.now() - since >= quiet
  }, `the streams to settle for ${quiet} ms`, timeout)
}

/** what `peerId` was refused with, as `name: message` */
export function naming (rejected: RejectedMessage[], peerId: PeerId): string[] {
  return rejected.filter(r => r.remotePeer.equals(peerId)).map(r => `${r.error.name}: ${r.error.message}`)
}

/** the room stream `from` has with `to` (its own session), if open */
export function sessionOf (from: Room, to: PeerId): Session | undefined {
  const session = impl(from).getMember(to)?.session
  return session?.open === true ? session : undefined
}

/** peer id bytes, as `forwardTo` names members */
export function idBytes (peerId: PeerId): Uint8Array<ArrayBuffer> {
  return peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>
}

/** the private key a member node signs with */
export function keyOf (room: Room): PrivateKey {
  return impl(room).ctx.components.privateKey
}
