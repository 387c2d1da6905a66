/**
 * Members behind real kernel NATs. Each case builds its own network
 * namespaces (see `test/fixtures/netns.ts`): a public one with the relay
 * program and coturn, two NAT routers and a member behind each. Needs root,
 * `ip`, `nft` and coturn's `turnserver`; skipped, saying why, without them.
 */
import '../fixtures/datachannel-cleanup.ts'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { hasCoturn, startCoturn } from '../fixtures/coturn.ts'
import { startMeshMember } from '../fixtures/mesh-member-process.ts'
import { PUBLIC_ADDR, createNatNetwork, hostAddresses, hostNetworkSnapshot, netnsUnavailable, removeStaleNamespaces } from '../fixtures/netns.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { TurnServer } from '../fixtures/coturn.ts'
import type { ConnectionJson, MemberJson, MeshMemberProcess } from '../fixtures/mesh-member-process.ts'
import type { NatKind, NatNetwork } from '../fixtures/netns.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'

/** what ICE servers the members get */
type IceGiven = 'none' | 'stun' | 'stun+turn'

/**
 * The ICE servers given to the members. This is the one place to change once
 * the relay hands out its own (`--stun-port`, `--ice-server`): then the
 * relay gets those flags and this returns nothing, so that the members use
 * only what the relay hands out.
 */
function iceServersFor (given: IceGiven, turn: TurnServer): RTCIceServer[] {
  return given === 'none' ? [] : given === 'stun' ? [turn.stun] : [turn.stun, turn.turn]
}

/** flags for the relay program in the public namespace */
function relayArgs (): string[] {
  return ['--host', PUBLIC_ADDR]
}

interface Setup {
  network: NatNetwork
  turn: TurnServer
  relay: RelayProcess
  members: [MeshMemberProcess, MeshMemberProcess]
  started: number
}

/** how `member` sees `other`, and its connections to it */
async function view (member: MeshMemberProcess, other: MeshMemberProcess): Promise<{ member?: MemberJson, connections: ConnectionJson[] }> {
  const [members, connections] = await Promise.all([member.members(), member.connections()])
  return { member: members.find(m => m.peerId === other.peerId), connections: connections.filter(c => c.peerId === other.peerId) }
}

/**
 * Asserts that the route `member` reports for `other` is the truth: `direct`
 * only on an open WebRTC connection with a selected candidate pair, `relayed`
 * only with a relayed connection and no WebRTC one. Returns the route and the
 * WebRTC connection, if any.
 */
async function truthfulRoute (member: MeshMemberProcess, other: MeshMemberProcess): Promise<{ route: string, webrtc?: ConnectionJson }> {
  const { member: seen, connections } = await view(member, other)
  expect(seen, 'the other member is known').to.exist()
  const webrtc = connections.find(c => c.remoteAddr.includes('/webrtc'))
  const relayed = connections.filter(c => c.limited && !c.remoteAddr.includes('/webrtc'))

  if (seen?.route === 'direct') {
    expect(webrtc, `route direct without a WebRTC connection: ${JSON.stringify(connections)}`).to.exist()
    expect(webrtc?.direct).to.be.true()
    expect(webrtc?.candidatePair?.remote?.ip, 'a selected ICE candidate pair').to.be.a('string')
  } else {
    expect(seen?.route).to.equal('relayed')
    expect(webrtc, `route relayed beside a WebRTC connection: ${JSON.stringify(connections)}`).to.not.exist()
    expect(relayed, 'a relayed connection').to.not.be.empty()
  }

  return { route: seen!.route, webrtc }
}

/** sends `count` messages each way and waits until all arrived at the other */
async function exchange (members: [MeshMemberProcess, MeshMemberProcess], count: number, tag: string): Promise<void> {
  const [a, b] = members
  const received = (member: MeshMemberProcess, prefix: string): number =>
    new Set(member.history.filter(l => l.event === 'message' && String(l.text).startsWith(prefix)).map(l => l.text)).size

  await Promise.all([a.sendMany(count, `${tag}-a-`, 10, 10), b.sendMany(count, `${tag}-b-`, 10, 10)])

  try {
    await pWaitFor(() => received(b, `${tag}-a-`) === count && received(a, `${tag}-b-`) === count, { timeout: 30_000, interval: 100 })
  } catch {
    throw new Error(`messages lost: b got ${received(b, `${tag}-a-`)}/${count} of a's, a got ${received(a, `${tag}-b-`)}/${count} of b's`)
  }
}

/** the route each member reports for the other, once both report one */
async function routes (members: [MeshMemberProcess, MeshMemberProcess]): Promise<string[]> {
  const [a, b] = members
  return Promise.all([view(a, b), view(b, a)].map(async v => (await v).member?.route ?? 'unknown'))
}

describe('members behind real NATs (network namespaces)', function () {
  this.timeout(120_000)
  let hostBefore: string
  let setup: Setup | undefined

  before(async function () {
    const unavailable = await netnsUnavailable() ?? (await hasCoturn() ? undefined : 'no `turnserver` (Debian package coturn)')

    if (unavailable != null) {
      // eslint-disable-next-line no-console
      console.warn(`      skipping the NAT tests: ${unavailable}`)
      this.skip()
    }

    await removeStaleNamespaces()
    hostBefore = await hostNetworkSnapshot()
  })

  afterEach(async function () {
    const s = setup
    setup = undefined

    if (s == null) {
      return
    }

    if (this.currentTest?.state === 'failed') {
      for (const [i, m] of s.members.entries()) {
        // eslint-disable-next-line no-console
        console.warn(`member ${i + 1} stderr (last 3000):\n${m?.stderr().slice(-3000)}`)
      }
    }

    await Promise.all(s.members.map(async m => m?.stop()))
    await s.relay?.stop('SIGKILL')
    await s.turn?.stop()
    await s.network.destroy()

    for (const ns of s.network.namespaces) {
      expect(await s.network.pids(ns), `processes left in ${ns}`).to.be.empty()
    }
  })

  after(async () => {
    if (hostBefore != null) {
      expect(await hostNetworkSnapshot(), 'the machine\'s own interfaces and routes').to.equal(hostBefore)
    }
  })

  /** builds the network, starts coturn, the relay and the two members */
  async function start (kinds: [NatKind, NatKind], given: IceGiven, room: string): Promise<Setup> {
    const network = await createNatNetwork(kinds)
    setup = { network, members: [] as any, started: Date.now() } as unknown as Setup
    setup.turn = await startCoturn(network.public, PUBLIC_ADDR)
    setup.relay = await startRelayProcess(relayArgs(), undefined, { netns: network.public })
    const iceServers = iceServersFor(given, setup.turn)
    setup.started = Date.now()
    const members = await Promise.all(network.sides.map(async side => startMeshMember({
      relay: setup!.relay.wsAddr,
      room,
      netns: side.member,
      iceServers,
      bindAddress: 'any',
      messages: true
    })))
    setup.members = members as [MeshMemberProcess, MeshMemberProcess]
    return setup
  }

  it('nothing can leave the namespaces: no default route, no route to the machine\'s addresses', async () => {
    const { network } = await start(['cone', 'cone'], 'none', `nat-isolation-${process.pid}`)
    const addresses = hostAddresses()
    expect(addresses, 'the machine has addresses to check').to.not.be.empty()

    for (const ns of network.namespaces) {
      const { stdout } = await network.exec(ns, 'ip', ['route'])
      expect(stdout, `routes of ${ns}`).to.not.match(/^default/m)

      for (const address of addresses) {
        const family = address.includes(':') ? '-6' : '-4'
        await expect(network.exec(ns, 'ip', [family, 'route', 'get', address]), `route from ${ns} to ${address}`).to.eventually.be.rejected()
      }
    }
  })

  it('cone NATs: the members go direct over STUN-learned addresses', async () => {
    const { network, members } = await start(['cone', 'cone'], 'stun', `nat-cone-${process.pid}`)
    const [a, b] = members

    await pWaitFor(async () => (await routes(members)).every(r => r === 'direct'), { timeout: 60_000, interval: 200 })
    const direct = Date.now() - setup!.started

    for (const [member, other, otherSide] of [[a, b, network.sides[1]], [b, a, network.sides[0]]] as const) {
      const { route, webrtc } = await truthfulRoute(member, other)
      expect(route).to.equal('direct')
      // the other's address as the world sees it: its NAT's public side
      expect(webrtc?.candidatePair?.remote?.ip).to.equal(otherSide.publicAddr)
    }

    await exchange(members, 50, 'cone')
    // eslint-disable-next-line no-console
    console.log(`      direct ${direct} ms after the members started`)
  })
})
