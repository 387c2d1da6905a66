import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { MAX_DIALED_RELAYS, MAX_UNVERIFIED_RELAY_ADDRS, UNVERIFIED_RELAY_DIALS, UNVERIFIED_RELAY_DIALS_TOTAL, UNVERIFIED_RELAY_WINDOW } from '../../src/mesh/constants.ts'
import { RelayGate, circuitRelayPart } from '../../src/mesh/relay-gate.ts'
import type { MeshComponents } from '../../src/mesh/index.ts'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const HOP = '/libp2p/circuit/relay/0.2.0/hop'

async function newPeerId (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

interface Fakes {
  candidates: Array<{ peerId: PeerId, addrs: Multiaddr[], measuredAt?: number, failures: number }>
  connections: Connection[]
  protocols: Map<string, string[]>
  /** addresses the gate dialed itself */
  dialed: string[]
  /** whether those dials succeed */
  reachable(addr: string): boolean
}

function gate (fakes: Fakes): RelayGate {
  const components = {
    relays: { candidates: fakes.candidates, selected: [] },
    connectionManager: {
      getConnections: (peerId?: PeerId) => fakes.connections.filter(conn => peerId == null || conn.remotePeer.equals(peerId)),
      openConnection: async (addr: Multiaddr) => {
        fakes.dialed.push(addr.toString())

        if (!fakes.reachable(addr.toString())) {
          throw new Error('ECONNREFUSED')
        }

        return {}
      }
    },
    peerStore: {
      get: async (peerId: PeerId) => {
        const protocols = fakes.protocols.get(peerId.toString())

        if (protocols == null) {
          throw new Error('not found')
        }

        return { protocols }
      }
    }
  }

  return new RelayGate(components as unknown as MeshComponents)
}

describe('RelayGate', () => {
  let member: PeerId
  let relay: PeerId
  let fakes: Fakes

  beforeEach(async () => {
    member = await newPeerId()
    relay = await newPeerId()
    fakes = {
      candidates: [{ peerId: relay, addrs: [multiaddr('/ip4/10.0.0.1/tcp/443/tls/ws')], measuredAt: Date.now(), failures: 0 }],
      connections: [],
      protocols: new Map(),
      dialed: [],
      reachable: () => true
    }
  })

  it('splits a circuit address into relay, transport and circuit', () => {
    expect(circuitRelayPart(multiaddr(`/ip4/10.0.0.1/tcp/443/tls/ws/p2p/${relay}/p2p-circuit/webrtc/p2p/${member}`))).to.deep.equal({
      relay: relay.toString(),
      transport: '/ip4/10.0.0.1/tcp/443/tls/ws',
      circuit: `/p2p-circuit/webrtc/p2p/${member}`
    })
    expect(circuitRelayPart(multiaddr(`/ip4/10.0.0.1/tcp/443/p2p-circuit/p2p/${member}`)), 'no relay peer id').to.be.undefined()
    expect(circuitRelayPart(multiaddr(`/ip4/10.0.0.1/tcp/443/p2p/${member}`)), 'not relayed').to.be.undefined()
  })

  it('dials a measured relay on the address it was measured on, whatever host the member names, without dialing it itself', async () => {
    const addrs = [
      multiaddr(`/ip4/10.0.0.1/tcp/443/tls/ws/p2p/${relay}/p2p-circuit/p2p/${member}`),
      multiaddr(`/ip4/192.0.2.7/tcp/80/p2p/${relay}/p2p-circuit/webrtc/p2p/${member}`)
    ]

    expect((await gate(fakes).admit(addrs)).map(String)).to.deep.equal([addrs[0].toString()])
    expect((await gate(fakes).admit([addrs[1]])).map(String)).to.deep.equal([`/ip4/10.0.0.1/tcp/443/tls/ws/p2p/${relay}/p2p-circuit/webrtc/p2p/${member}`])
    expect(fakes.dialed).to.be.empty()
  })

  it('treats a candidate never measured, or that failed, as unverified', async () => {
    const addr = multiaddr(`/ip4/192.0.2.7/tcp/80/p2p/${relay}/p2p-circuit/p2p/${member}`)
    fakes.candidates[0].measuredAt = undefined
    expect((await gate(fakes).admit([addr])).map(String)).to.deep.equal([addr.toString()])
    expect(fakes.dialed).to.deep.equal([`/ip4/192.0.2.7/tcp/80/p2p/${relay}`])

    fakes.candidates[0].measuredAt = Date.now()
    fakes.candidates[0].failures = 1
    await gate(fakes).admit([addr])
    expect(fakes.dialed).to.have.lengthOf(2)
  })

  it('dials an unverified host:port itself, on that address only, once a dial and UNVERIFIED_RELAY_DIALS times a window, whatever peer ids it claims', async () => {
    const g = gate(fakes)
    const fakeRelays = await Promise.all(Array.from({ length: 8 }, newPeerId))
    const addrs = fakeRelays.map(id => multiaddr(`/ip4/127.0.0.1/tcp/4000/ws/p2p/${id}/p2p-circuit/p2p/${member}`))
    const now = Date.now()
    const admitted = []

    for (let i = 0; i < UNVERIFIED_RELAY_DIALS + 2; i++) {
      admitted.push((await g.admit(addrs, {}, now + i)).length)
    }

    expect(admitted).to.deep.equal([...Array(UNVERIFIED_RELAY_DIALS).fill(1), 0, 0])
    expect(fakes.dialed).to.have.lengthOf(UNVERIFIED_RELAY_DIALS)
    fakes.dialed.forEach(addr => expect(addr).to.match(/^\/ip4\/127\.0\.0\.1\/tcp\/4000\/ws\/p2p\/[^/]+$/))
    // a new window
    expect(await g.admit(addrs, {}, now + UNVERIFIED_RELAY_WINDOW)).to.have.lengthOf(1)
  })

  it('leaves out an unverified relay it cannot reach', async () => {
    fakes.reachable = () => false
    const addr = multiaddr(`/ip4/127.0.0.1/tcp/4000/ws/p2p/${await newPeerId()}/p2p-circuit/p2p/${member}`)
    expect(await gate(fakes).admit([addr])).to.be.empty()
    expect(fakes.dialed).to.have.lengthOf(1)
  })

  it(`dials at most ${UNVERIFIED_RELAY_DIALS_TOTAL} unverified host:ports a window, all together (one host has many spellings)`, async () => {
    const g = gate(fakes)
    const fake = await newPeerId()
    let admitted = 0

    for (let i = 0; i < UNVERIFIED_RELAY_DIALS_TOTAL + 10; i++) {
      admitted += (await g.admit([multiaddr(`/dns4/n${i}.example/tcp/4000/ws/p2p/${fake}/p2p-circuit/p2p/${member}`)])).length
    }

    expect(admitted).to.equal(UNVERIFIED_RELAY_DIALS_TOTAL)
  })

  it(`goes through at most ${MAX_DIALED_RELAYS} relays a dial, vouched-for ones first`, async () => {
    const addrs = await Promise.all(Array.from({ length: 32 }, async (_, i) => multiaddr(`/ip4/127.0.0.1/tcp/${5000 + i}/ws/p2p/${await newPeerId()}/p2p-circuit/p2p/${member}`)))
    addrs.push(multiaddr(`/ip4/10.0.0.1/tcp/443/tls/ws/p2p/${relay}/p2p-circuit/p2p/${member}`))
    const admitted = await gate(fakes).admit(addrs)

    expect(admitted).to.have.lengthOf(MAX_DIALED_RELAYS)
    expect(admitted[0].toString()).to.include(relay.toString())
    expect(fakes.dialed).to.have.lengthOf(MAX_DIALED_RELAYS - 1)
  })

  it('dials a peer it is connected to that serves the hop protocol on that connection\'s address, without counting', async () => {
    const other = await newPeerId()
    const addr = multiaddr(`/ip4/192.0.2.9/tcp/6000/ws/p2p/${other}/p2p-circuit/p2p/${member}`)
    fakes.connections.push({ status: 'open', remotePeer: other, remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/6001/ws/p2p/${other}`) } as unknown as Connection)
    const g = gate(fakes)

    // not a relay: unverified
    fakes.protocols.set(other.toString(), ['/ipfs/id/1.0.0'])
    expect((await g.admit([addr])).map(String)).to.deep.equal([addr.toString()])
    expect(g.tracked).to.equal(1)

    fakes.protocols.set(other.toString(), ['/ipfs/id/1.0.0', HOP])

    for (let i = 0; i < UNVERIFIED_RELAY_DIALS + 2; i++) {
      expect((await g.admit([addr])).map(String), `dial ${i}`).to.deep.equal([`/ip4/127.0.0.1/tcp/6001/ws/p2p/${other}/p2p-circuit/p2p/${member}`])
    }

    expect(fakes.dialed).to.have.lengthOf(1)
  })

  it(`tracks at most ${MAX_UNVERIFIED_RELAY_ADDRS} unverified host:ports`, async () => {
    const g = gate(fakes)
    const fake = await newPeerId()

    for (let i = 0; i < MAX_UNVERIFIED_RELAY_ADDRS + 100; i++) {
      await g.admit([multiaddr(`/ip4/127.0.0.1/tcp/${1 + i}/ws/p2p/${fake}/p2p-circuit/p2p/${member}`)])
    }

    expect(g.tracked).to.be.at.most(MAX_UNVERIFIED_RELAY_ADDRS)
  })
})
