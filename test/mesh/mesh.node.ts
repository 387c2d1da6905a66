import '../fixtures/datachannel-cleanup.ts'
import { setTimeout as delay } from 'node:timers/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { PRUNE_DELAY } from '../../src/mesh/constants.ts'
import { isDirect } from '../../src/mesh/session.ts'
import { expectDirectWebRTC } from '../fixtures/assertions.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { describeStream } from '../fixtures/streams.ts'
import { createMember, describeMesh, meshIs, waitForFullMesh } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { MemberInfo } from '../../src/index.ts'
import type { RoomImpl } from '../../src/mesh/room.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** whether `node`'s connections to anything but the relay are all direct */
function onlyDirectToMembers (node: MeshNode): boolean {
  return node.getConnections().every(conn => conn.remotePeer.toString() === relayId || isDirect(conn))
}

let relayId = ''

/** the peer store tag kad-dht gives the peers in its routing table (KAD_PEER_TAG_NAME, not exported) */
const KAD_PEER_TAG_NAME = 'kad-peer'

describe('mesh: full WebRTC mesh in one process', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
    relayId = relay.peerId
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
  })

  ;[3, 5, 10].forEach(size => {
    it(`${size} members through one relay end up pairwise on direct WebRTC`, async () => {
      nodes = await Promise.all(Array.from({ length: size }, async () => createMember(relay.wsAddr)))
      const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join(`full-mesh-${size}`)))

      try {
        await waitForFullMesh(rooms, nodes)
      } catch (err) {
        throw new Error(`mesh did not form:\n${describeMesh(rooms, nodes)}`)
      }

      for (const [i, node] of nodes.entries()) {
        for (const [j, other] of nodes.entries()) {
          if (i === j) {
            continue
          }
          const member = rooms[i].member(other.peerId)
          expect(member?.route).to.equal('direct')
          const direct = node.getConnections(other.peerId).filter(conn => WebRTC.matches(conn.remoteAddr))
          expect(direct).to.have.length.greaterThan(0)
          direct.forEach(expectDirectWebRTC)
        }
      }

      // the relayed connections that carried the signaling are closed
      await pWaitFor(() => nodes.every(onlyDirectToMembers), { timeout: 20_000, interval: 200 })
    })
  })

  it('closes the connections to a member on a direct stream that open later and carry no stream: another WebRTC one, a relayed one', async () => {
    // both sides dial WebRTC to a member found in the DHT, and a relayed
    // dial may be under way: what opens after the prune that follows the
    // direct stream must be closed too
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('late-connections')))
    await waitForFullMesh(rooms, nodes)
    await pWaitFor(() => nodes.every(onlyDirectToMembers), { timeout: 20_000, interval: 200 })
    // past the one prune that follows the direct stream
    await delay(PRUNE_DELAY + 200)
    const [a, b] = nodes
    const carrying = (rooms[0] as unknown as RoomImpl).getMember(b.peerId)?.session?.connection
    expect(carrying?.status, 'the connection the room runs on').to.equal('open')
    const before = a.getConnections(b.peerId).map(conn => conn.id)
    const addrs = b.getMultiaddrs().map(String)
    const webrtc = addrs.find(ma => ma.includes('/p2p-circuit/webrtc/'))
    const relayed = addrs.find(ma => /\/p2p-circuit\/p2p\//.test(ma))
    expect(webrtc, 'b has a /p2p-circuit/webrtc address').to.be.a('string')
    expect(relayed, 'b has a relayed address').to.be.a('string')

    // one after the other: libp2p joins concurrent dials to one peer
    const late: Connection[] = []

    for (const [ma, isWebRTC] of [[webrtc!, true], [relayed!, false]] as const) {
      const conn = await a.dial(multiaddr(ma), { force: true })
      expect(conn.status, ma).to.equal('open')
      expect(before, 'a new connection').to.not.include(conn.id)
      expect(WebRTC.matches(conn.remoteAddr)).to.equal(isWebRTC)
      late.push(conn)
    }

    await pWaitFor(() => late.every(conn => conn.status !== 'open'), { timeout: 10_000, interval: 100 })
    // what was there before stays: besides the room's connection, one that
    // carries a stream may still be open (seen in a fresh-clone run)
    expect(a.getConnections(b.peerId).map(conn => conn.id).sort()).to.deep.equal([...before].sort())
    expect(carrying?.status).to.equal('open')
    expect(rooms[0].member(b.peerId)?.route).to.equal('direct')
    expect(rooms[1].member(a.peerId)?.route).to.equal('direct')
  })

  it('closes its end of a room stream the member closed: no stream is left half-open', async () => {
    // the pair ends up with two streams when both sides dial at once, and
    // each closes the one it ranks lower; a side whose stream the other
    // closed first must close its own end, or the stream stays half-open on
    // both sides, with the connection under it (seen in a fresh-clone run:
    // two WebRTC connections kept for good, one of them by such a stream)
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('half-open')))
    await waitForFullMesh(rooms, nodes)
    const [a, b] = nodes
    const member = (rooms[0] as unknown as RoomImpl).getMember(b.peerId)
    const session = member?.session
    const closed = session?.stream
    expect(closed?.status, 'a\'s room stream with b').to.equal('open')
    // what a does with the stream it ranks lower: it stops using it, and
    // closes it
    member?.link.detach(session)
    await session?.close()

    const meshStreams = (node: MeshNode, other: MeshNode): Stream[] =>
      node.getConnections(other.peerId).flatMap(conn => conn.streams).filter(s => s.protocol === '/relaymesh/mesh/2.0.0')
    const streamsOfBoth = (): string => JSON.stringify([[a, b], [b, a]].map(([node, other]) =>
      meshStreams(node, other).map(describeStream)))

    try {
      await pWaitFor(() => closed?.status === 'closed', { timeout: 10_000, interval: 100 })
      // b is back on a stream that is open both ways
      await pWaitFor(() => [[a, b], [b, a]].every(([node, other]) => {
        const streams = meshStreams(node, other)
        return streams.length === 1 && streams[0].writeStatus === 'writable' && streams[0].remoteWriteStatus === 'writable'
      }), { timeout: 20_000, interval: 100 })
    } catch (err: any) {
      throw new Error(`${err.message}: room streams of a and b ${streamsOfBoth()}`)
    }

    await waitForFullMesh(rooms, nodes)
  })

  it('finds members in the DHT without making them DHT peers of each other', async () => {
    // kad-dht admits every provider a look-up returns to its routing table
    // (after dialing and pinging it) and queries it from then on; members
    // do not serve the DHT, so only the relay may be a DHT peer
    nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('dht-peers')))
    await waitForFullMesh(rooms, nodes)

    for (const node of nodes) {
      const relayPeer = await node.peerStore.get(peerIdFromString(relayId))
      expect(relayPeer.tags.has(KAD_PEER_TAG_NAME), 'the relay is a DHT peer').to.be.true()

      for (const other of nodes.filter(n => n !== node)) {
        const peer = await node.peerStore.get(other.peerId)
        expect(peer.tags.has(KAD_PEER_TAG_NAME), `member ${other.peerId} is a DHT peer of ${node.peerId}`).to.be.false()
      }
    }
  })

  it('falls back to the relayed connection when WebRTC cannot be dialed, and keeps it', async () => {
    const noWebRTC = { libp2p: { connectionGater: { denyDialMultiaddr: (ma: Multiaddr) => WebRTC.matches(ma) } } }
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr, noWebRTC)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('relayed-only')))

    await pWaitFor(() => meshIs(rooms, nodes, 'relayed'), { timeout: 30_000, interval: 100 })
    // well past the delay after which a direct pair closes its relayed connection
    await delay(3000)
    expect(meshIs(rooms, nodes, 'relayed'), describeMesh(rooms, nodes)).to.be.true()

    for (const [i, room] of rooms.entries()) {
      const other = nodes[1 - i]
      const member = room.member(other.peerId)
      expect(member?.route).to.equal('relayed')
      expect(member?.score).to.be.at.most(80)
      expect(nodes[i].getConnections(other.peerId).some(conn => conn.status === 'open' && conn.limits != null)).to.be.true()
    }
  })

  it('never reports a state and a route that disagree, also when a stream ends under a member', async () => {
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('state-route')))
    const seen: MemberInfo[] = []
    rooms.forEach(room => {
      room.addEventListener('member:updated', (evt) => { seen.push(evt.detail) })
      room.addEventListener('member:joined', (evt) => { seen.push(evt.detail) })
      room.addEventListener('member:rejoined', (evt) => { seen.push(evt.detail) })
    })
    await waitForFullMesh(rooms, nodes)

    // the room stream ends under member 0 (as when the remote closes it): it
    // has no stream with member 1 until it opens a new one
    const stream = nodes[0].getConnections(nodes[1].peerId).flatMap(conn => conn.streams).find(s => s.protocol === '/relaymesh/mesh/2.0.0')
    expect(stream, 'the room stream').to.exist()
    stream?.abort(new Error('cut by the test'))
    await pWaitFor(() => seen.some(info => info.state !== 'direct' || info.route !== 'direct'), { timeout: 10_000, interval: 10 })
    await waitForFullMesh(rooms, nodes)

    const routeOf = { direct: 'direct', relayed: 'relayed', connecting: 'none', unreachable: 'none' } as const
    for (const info of seen) {
      expect(info.route, `member in state ${info.state}`).to.be.oneOf(info.state === 'unreachable' || info.state === 'connecting' ? ['none', 'forwarded'] : [routeOf[info.state]])
    }
  })

  it('reports a member that leaves, and does not reconnect to it', async () => {
    nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('leaving')))
    await waitForFullMesh(rooms, nodes)

    const left = Promise.all(rooms.slice(1).map(async room => pEvent<'member:left', CustomEvent<MemberInfo>>(room, 'member:left', { timeout: 10_000 })))
    await rooms[0].leave()
    const events = await left
    events.forEach(evt => { expect(evt.detail.peerId.toString()).to.equal(nodes[0].peerId.toString()) })

    await delay(2000)
    for (const room of rooms.slice(1)) {
      expect(room.member(nodes[0].peerId)).to.be.undefined()
      expect(room.members).to.have.lengthOf(1)
      expect(room.members[0].state).to.equal('direct')
    }
    expect(nodes[0].services.mesh.rooms).to.be.empty()
  })

  it('holds at most maxMembers members with a stream, also when pending ones finish their handshakes together', async () => {
    const small = await createMember(relay.wsAddr, { mesh: { maxMembers: 1 } })
    const others = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    nodes = [small, ...others]
    const [room, ...rest] = await Promise.all(nodes.map(async node => node.services.mesh.join('max-members')))
    const joined = (): number => (room as unknown as RoomImpl).all().filter(member => member.joined).length
    let most = 0
    const sampler = setInterval(() => { most = Math.max(most, joined()) }, 50)

    try {
      // the others form their mesh; the small one finds all three in the DHT
      await waitForFullMesh(rest, others, 60_000)
      await pWaitFor(() => joined() >= 1, { timeout: 30_000, interval: 100 })
      await delay(5_000)
    } finally {
      clearInterval(sampler)
    }

    expect(most, 'members with a stream at once').to.equal(1)
    expect(room.members.filter(member => member.state === 'direct' || member.state === 'relayed').length, 'members on a stream').to.be.at.most(1)
  })
})
