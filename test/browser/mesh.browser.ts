import { generateKeyPair } from '@libp2p/crypto/keys'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import { IDBDatastore } from 'datastore-idb'
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../../src/index.ts'
import { expectDirectWebRTC } from '../fixtures/assertions.ts'
import { testNodeInit } from '../fixtures/options.ts'
import { inbox } from '../mesh/fixtures.ts'
import type { RelaymeshServices, Room, RoomMessage } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'

const textOf = (m: RoomMessage): string => new TextDecoder().decode(m.data)

// .aegir.js starts two Node members of MESH_ROOM in their own processes;
// they answer every room message with `echo:<text>`
describe('mesh (Chromium)', function () {
  this.timeout(90_000)
  const relayAddr = process.env.RELAY_ADDR ?? ''
  const memberIds = (process.env.MESH_MEMBER_IDS ?? '').split(',').filter(id => id !== '')
  let node: Libp2p<RelaymeshServices> | undefined
  let other: Libp2p<RelaymeshServices> | undefined

  afterEach(async () => {
    await node?.stop()
    await other?.stop()
    node = other = undefined
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

  it('a browser member sends and receives with Node members, and after a restart with its key and IndexedDB gets what it missed', async () => {
    const room = process.env.MESH_ROOM ?? ''
    const key = await generateKeyPair('Ed25519')
    const dbName = `relaymesh-test-${Math.random().toString(36).slice(2)}`
    const reached = (r: Room): boolean => memberIds.every(id => r.members.some(m => m.peerId.toString() === id && m.route !== 'none'))
    const echoes = (messages: RoomMessage[], text: string): string[] => messages.filter(m => textOf(m) === `echo:${text}`).map(m => m.sender.toString()).sort()

    let datastore = new IDBDatastore(dbName)
    await datastore.open()
    node = await createMeshNode(testNodeInit({ bootstrap: [relayAddr], privateKey: key, datastore }))
    let joined = await node.services.mesh.join(room)
    let received = inbox(joined)
    await pWaitFor(() => reached(joined), { timeout: 60_000, interval: 200 })

    // the Node members answer what the browser sends
    await joined.send(new TextEncoder().encode('hello from Chromium'))
    await pWaitFor(() => echoes(received, 'hello from Chromium').length === 2, { timeout: 30_000, interval: 100 })
    expect(echoes(received, 'hello from Chromium')).to.deep.equal([...memberIds].sort())

    // the page goes away; another browser member talks meanwhile
    await node.stop()
    await datastore.close()
    node = undefined
    other = await createMeshNode(testNodeInit({ bootstrap: [relayAddr] }))
    const otherRoom = await other.services.mesh.join(room)
    const atOther = inbox(otherRoom)
    await pWaitFor(() => reached(otherRoom), { timeout: 60_000, interval: 200 })
    const away = ['while away 1', 'while away 2', 'while away 3']

    for (const text of away) {
      await otherRoom.send(new TextEncoder().encode(text))
    }

    await pWaitFor(() => away.every(text => echoes(atOther, text).length === 2), { timeout: 30_000, interval: 100 })

    // back with the same key and IndexedDB: what it missed is replayed, what it had is not
    datastore = new IDBDatastore(dbName)
    await datastore.open()
    node = await createMeshNode(testNodeInit({ bootstrap: [relayAddr], privateKey: key, datastore }))
    joined = await node.services.mesh.join(room)
    received = inbox(joined)
    await pWaitFor(() => away.every(text => echoes(received, text).length === 2 && received.some(m => textOf(m) === text)), { timeout: 60_000, interval: 200 })
    await new Promise(resolve => setTimeout(resolve, 1000))

    const fromOther = received.filter(m => m.sender.equals(other?.peerId))
    expect(fromOther.map(textOf)).to.deep.equal(away)
    expect(received.every(m => m.replayed), 'what it missed is marked replayed').to.be.true()
    expect(echoes(received, 'hello from Chromium'), 'what it had is not delivered again').to.be.empty()

    await other.stop()
    other = undefined
    await node.stop()
    node = undefined
    await datastore.close()
    indexedDB.deleteDatabase(dbName)
  })
})
