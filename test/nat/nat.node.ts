/**
 * Members behind real kernel NATs, in network namespaces (see
 * `test/fixtures/netns.ts`): a public one with the relay program, which serves
 * STUN (`--stun-port`) and hands it out, two NAT routers and a member behind
 * each. The members are given no ICE server: what the relay hands out must be
 * enough. Needs root, `ip` and `nft`; skipped, saying why, without them.
 *
 * `NAT_DEBUG=<DEBUG value>` passes `DEBUG` to the members (their stderr is
 * printed when a case fails).
 */
import '../fixtures/datachannel-cleanup.ts'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { startMeshMember } from '../fixtures/mesh-member-process.ts'
import { PUBLIC_ADDR, createNatNetwork, hostAddresses, hostNetworkSnapshot, listNamespaces, removeStaleNamespaces, skipWithoutNetns } from '../fixtures/netns.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import type { ConnectionJson, MemberJson, MeshMemberProcess } from '../fixtures/mesh-member-process.ts'
import type { NatKind, NatNetwork } from '../fixtures/netns.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'

/** where the members' ICE servers come from: the relay's hand-out, or nowhere (`relayIceServers: false`) */
type IceGiven = 'relay' | 'none'

/** flags for the relay program in the public namespace: it serves STUN and hands it out */
function relayArgs (): string[] {
  return ['--host', PUBLIC_ADDR, '--stun-port', '0']
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
  let hostBefore: string | undefined
  let network: NatNetwork | undefined
  let relay: RelayProcess | undefined
  let members: MeshMemberProcess[] = []
  let started = 0

  before(async function () {
    await skipWithoutNetns(this, 'skipping the NAT tests')

    await removeStaleNamespaces()
    hostBefore = await hostNetworkSnapshot()
    let t = Date.now()
    const phases: string[] = []
    const phase = (name: string): void => { phases.push(`${name} ${Date.now() - t} ms`); t = Date.now() }
    network = await createNatNetwork(['cone', 'cone'])
    phase('namespaces')
    relay = await startRelayProcess(relayArgs(), undefined, { netns: network.public })
    phase('relay')
    // eslint-disable-next-line no-console
    console.log(`      set-up: ${phases.join(', ')}`)
  })

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const [i, m] of members.entries()) {
        // eslint-disable-next-line no-console
        console.warn(`member ${i + 1} stderr (last 3000):\n${m.stderr().slice(-3000)}`)
      }
    }

    await Promise.all(members.map(async m => m.stop()))
    members = []
  })

  after(async () => {
    await relay?.stop('SIGKILL')
    await network?.destroy()

    for (const ns of network?.namespaces ?? []) {
      expect(await network?.pids(ns), `processes left in ${ns}`).to.be.empty()
      expect(await listNamespaces(), 'namespaces left').to.not.include(ns)
    }

    if (hostBefore != null) {
      // every link, address and route the machine had is still there as it
      // was, and none of ours appeared (others' tests may add their own)
      const before = hostBefore.split('\n')
      const after = (await hostNetworkSnapshot()).split('\n')
      expect(after, 'the machine\'s own links, addresses and routes').to.include.members(before)
      expect(after.filter(line => !before.includes(line) && /198\.1[89]\.|\b10\.[12]\.0\.|\b(wan|lan|nat[12])\b/.test(line)), 'our addresses or links on the machine').to.be.empty()
    }
  })

  /** makes the routers NATs of `kinds` and starts a member behind each */
  async function startMembers (kinds: [NatKind, NatKind], given: IceGiven, room: string): Promise<[MeshMemberProcess, MeshMemberProcess]> {
    await network!.setKinds(kinds)
    started = Date.now()
    members = await Promise.all(network!.sides.map(async side => startMeshMember({
      relay: relay!.wsAddr,
      room: `${room}-${process.pid}`,
      netns: side.member,
      relayIceServers: given === 'relay',
      bindAddress: 'any',
      messages: true,
      env: process.env.NAT_DEBUG != null ? { DEBUG: process.env.NAT_DEBUG } : undefined
    })))
    // eslint-disable-next-line no-console
    console.log(`      members joined ${Date.now() - started} ms after their start`)
    return members as [MeshMemberProcess, MeshMemberProcess]
  }

  it('nothing can leave the namespaces: no default route, no route to the machine\'s addresses', async () => {
    const addresses = hostAddresses()
    expect(addresses, 'the machine has addresses to check').to.not.be.empty()

    for (const ns of network!.namespaces) {
      const { stdout } = await network!.exec(ns, 'ip', ['route'])
      expect(stdout, `routes of ${ns}`).to.not.match(/^default/m)

      for (const address of addresses) {
        const family = address.includes(':') ? '-6' : '-4'
        await expect(network!.exec(ns, 'ip', [family, 'route', 'get', address]), `route from ${ns} to ${address}`).to.eventually.be.rejected()
      }
    }
  })

  it('cone NATs: the members go direct over addresses learned from the relay\'s STUN server', async () => {
    const [a, b] = await startMembers(['cone', 'cone'], 'relay', 'nat-cone')

    await pWaitFor(async () => (await routes([a, b])).every(r => r === 'direct'), { timeout: 60_000, interval: 200 })
    const direct = Date.now() - started

    for (const [member, other, otherSide] of [[a, b, network!.sides[1]], [b, a, network!.sides[0]]] as const) {
      const { route, webrtc } = await truthfulRoute(member, other)
      expect(route).to.equal('direct')
      // the other's address as the world sees it: its NAT's public side
      expect(webrtc?.candidatePair?.remote?.ip).to.equal(otherSide.publicAddr)
    }

    await exchange([a, b], 50, 'cone')
    // eslint-disable-next-line no-console
    console.log(`      direct ${direct} ms after the members started`)
  })

  it('cone NATs without the relay\'s STUN server: the members stay relayed, and talk', async () => {
    const [a, b] = await startMembers(['cone', 'cone'], 'none', 'nat-cone-no-stun')
    await exchange([a, b], 50, 'cone-no-stun')
    // long enough for several WebRTC attempts (the cone case is direct in a few seconds)
    await new Promise(resolve => setTimeout(resolve, 5000))
    expect((await truthfulRoute(a, b)).route).to.equal('relayed')
    expect((await truthfulRoute(b, a)).route).to.equal('relayed')
  })

  ;(['masquerade', 'symmetric'] as const).forEach(kind => {
    it(`${kind} NATs: the members talk through the relay, and say so`, async () => {
      const [a, b] = await startMembers([kind, kind], 'relay', `nat-${kind}`)
      await exchange([a, b], 50, kind)
      const took = Date.now() - started
      await new Promise(resolve => setTimeout(resolve, 5000))
      expect((await truthfulRoute(a, b)).route).to.equal('relayed')
      expect((await truthfulRoute(b, a)).route).to.equal('relayed')
      // eslint-disable-next-line no-console
      console.log(`      all messages through ${took} ms after the members started`)
    })
  })
})
