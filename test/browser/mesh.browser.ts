import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../../src/index.ts'
import { expectDirectWebRTC } from '../fixtures/assertions.ts'
import { testNodeInit } from '../fixtures/options.ts'
import type { RelaymeshServices } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'

// .aegir.js starts two Node members of MESH_ROOM in their own processes
describe('mesh (Chromium)', function () {
  this.timeout(90_000)
  const relayAddr = process.env.RELAY_ADDR ?? ''
  const memberIds = (process.env.MESH_MEMBER_IDS ?? '').split(',').filter(id => id !== '')
  let node: Libp2p<RelaymeshServices> | undefined

  afterEach(async () => {
    await node?.stop()
  })

  it('a browser member joins a room with Node members and reaches each over direct WebRTC', async () => {
    expect(memberIds).to.have.lengthOf(2)
    node = await createMeshNode(testNodeInit({ bootstrap: [relayAddr] }))
    const room = await node.services.mesh.join(process.env.MESH_ROOM ?? '')

    const directIds = (): string[] => room.members.filter(m => m.state === 'direct').map(m => m.peerId.toString())
    await pWaitFor(() => memberIds.every(id => directIds().includes(id)), { timeout: 60_000, interval: 200 })

    for (const member of room.members) {
      expect(member.route).to.equal('direct')
      const connections = node.getConnections(member.peerId).filter(conn => WebRTC.matches(conn.remoteAddr))
      expect(connections).to.not.be.empty()
      connections.forEach(expectDirectWebRTC)
    }

    // heartbeats flow: an RTT is measured for every member
    await pWaitFor(() => room.members.every(m => m.rtt != null && m.score > 0), { timeout: 10_000, interval: 200 })
  })
})
