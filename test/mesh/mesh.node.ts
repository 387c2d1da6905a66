import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import { expectDirectWebRTC } from '../fixtures/assertions.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createMember, describeMesh, waitForFullMesh } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'

describe('mesh: full WebRTC mesh in one process', function () {
  this.timeout(180_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  afterEach(async () => {
    await Promise.all(nodes.map(async node => node.stop()))
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
    })
  })
})
