import '../fixtures/datachannel-cleanup.ts'
import { setTimeout as delay } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import { MemoryDatastore } from 'datastore-core'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { sealReplayRequest } from '../../src/envelope/message.ts'
import { SEQ_RESERVATION_BLOCK } from '../../src/mesh/constants.ts'
import { streamKey } from '../../src/mesh/messages/log.ts'
import { ReplayFrame } from '../../src/mesh/pb/replay.ts'
import { stopNodes } from '../fixtures/options.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createMember, createPartitionable, describeMesh, inbox, isolate, meshIs, waitForFullMesh } from './fixtures.ts'
import type { MeshNode } from './fixtures.ts'
import type { MemberInfo, MessageGap, RejectedMessage, Room, RoomMessage } from '../../src/index.ts'
import type { RoomImpl } from '../../src/mesh/room.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Key } from 'interface-datastore'

function texts (messages: RoomMessage[], sender: PeerId): string[] {
  return messages.filter(m => m.sender.equals(sender)).map(m => new TextDecoder().decode(m.data))
}

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const numbered = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`)

describe('mesh: room messages', function () {
  this.timeout(120_000)
  let relay: RelayProcess
  let nodes: MeshNode[] = []

  before(async () => {
    relay = await startRelayProcess(['--max-reservations-per-ip', '64'])
  })

  after(async () => {
    await relay?.stop('SIGKILL')
  })

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
  })

  it('delivers every message to every other member once, in order per sender', async () => {
    nodes = await Promise.all([0, 1, 2].map(async () => createMember(relay.wsAddr)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('broadcast')))
    const inboxes = rooms.map(inbox)
    await waitForFullMesh(rooms, nodes)

    const sent = await Promise.all(rooms.map(async (room, i) => Promise.all(numbered(`${i}:`, 50).map(async text => room.send(encode(text))))))
    sent.forEach(list => { expect(list.map(m => m.seq)).to.deep.equal(numbered('', 50).map(Number)) })

    await pWaitFor(() => inboxes.every(messages => messages.length === 100), { timeout: 30_000, interval: 50 })
    await new Promise(resolve => setTimeout(resolve, 500))

    for (const [i, messages] of inboxes.entries()) {
      const self = nodes[i].peerId
      expect(messages).to.have.lengthOf(100)
      expect(messages.some(m => m.sender.equals(self)), 'own messages are not delivered back').to.be.false()

      for (const [j, node] of nodes.entries()) {
        if (i !== j) {
          expect(texts(messages, node.peerId)).to.deep.equal(numbered(`${j}:`, 50))
          expect(messages.filter(m => m.sender.equals(node.peerId)).map(m => m.seq)).to.deep.equal(numbered('', 50).map(Number))
        }
      }
    }
  })

  it('delivers over the relayed connection of a pair that has no WebRTC', async () => {
    const noWebRTC = { libp2p: { connectionGater: { denyDialMultiaddr: (ma: Multiaddr) => WebRTC.matches(ma) } } }
    nodes = await Promise.all([0, 1].map(async () => createMember(relay.wsAddr, noWebRTC)))
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('relayed-messages')))
    const received = inbox(rooms[1])
    await pWaitFor(() => meshIs(rooms, nodes, 'relayed'), { timeout: 30_000, interval: 100 })

    await Promise.all(numbered('r', 20).map(async text => rooms[0].send(encode(text))))
    await pWaitFor(() => received.length === 20, { timeout: 20_000, interval: 50 })
    expect(texts(received, nodes[0].peerId)).to.deep.equal(numbered('r', 20))
    expect(rooms[1].member(nodes[0].peerId)?.route).to.equal('relayed')
  })

  it('passes messages on through a third member to a pair that cannot connect', async () => {
    const members = await Promise.all([0, 1, 2].map(async () => createPartitionable(relay.wsAddr)))
    nodes = members.map(m => m.node)
    const [a, b, c] = nodes
    // a and c refuse each other from the start; both reach b
    await members[0].cut(c.peerId)
    await members[2].cut(a.peerId)
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('forwarded')))
    const atC = inbox(rooms[2])
    const atA = inbox(rooms[0])

    await pWaitFor(() => rooms[0].member(b.peerId)?.state === 'direct' && rooms[2].member(b.peerId)?.state === 'direct' &&
      rooms[0].member(c.peerId) != null && rooms[2].member(a.peerId) != null, { timeout: 30_000, interval: 100 })
    expect(rooms[0].member(c.peerId)?.route).to.equal('none')
    const forwardedRoute = pEvent<'member:updated', CustomEvent<MemberInfo>>(rooms[0], 'member:updated', { filter: (evt: CustomEvent<MemberInfo>) => evt.detail.peerId.equals(c.peerId) && evt.detail.route === 'forwarded', timeout: 20_000 })

    await Promise.all(numbered('a', 20).map(async text => rooms[0].send(encode(text))))
    await Promise.all(numbered('c', 20).map(async text => rooms[2].send(encode(text))))

    await pWaitFor(() => texts(atC, a.peerId).length === 20 && texts(atA, c.peerId).length === 20, { timeout: 20_000, interval: 50 })
    expect(texts(atC, a.peerId)).to.deep.equal(numbered('a', 20))
    expect(texts(atA, c.peerId)).to.deep.equal(numbered('c', 20))
    expect(a.getConnections(c.peerId)).to.be.empty()
    // each lists the other as reached through b, and said so
    expect(rooms[0].member(c.peerId)?.route).to.equal('forwarded')
    expect(rooms[2].member(a.peerId)?.route).to.equal('forwarded')
    await forwardedRoute
  })

  it('replays what a member missed while it was cut off, in order, marked as replayed', async () => {
    const members = await Promise.all([0, 1, 2].map(async () => createPartitionable(relay.wsAddr)))
    nodes = members.map(m => m.node)
    const [a, b, c] = nodes
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('replay')))
    const [atA, atB, atC] = rooms.map(inbox)
    await waitForFullMesh(rooms, nodes)

    await rooms[0].send(encode('before'))
    await pWaitFor(() => atC.length === 1, { timeout: 10_000, interval: 50 })

    // c is cut off from both; a and b keep talking
    await members[2].cut(a.peerId, b.peerId)
    await members[0].cut(c.peerId)
    await members[1].cut(c.peerId)
    await pWaitFor(() => rooms[0].member(c.peerId)?.route === 'none' && rooms[2].member(a.peerId)?.route === 'none', { timeout: 20_000, interval: 100 })

    const whileAway = [...numbered('a', 100).map(async text => rooms[0].send(encode(text))), ...numbered('b', 100).map(async text => rooms[1].send(encode(text)))]
    await Promise.all(whileAway)
    // c, alone, sends too: the others get it when it is back
    await rooms[2].send(encode('from c, alone'))
    expect(atC).to.have.lengthOf(1)

    members.forEach(m => { m.heal() })
    await pWaitFor(() => atC.length === 201, { timeout: 60_000, interval: 100 })
    expect(texts(atC, a.peerId)).to.deep.equal(['before', ...numbered('a', 100)])
    expect(texts(atC, b.peerId)).to.deep.equal(numbered('b', 100))
    expect(atC.slice(1).every(m => m.replayed), 'the missed messages are marked replayed').to.be.true()

    // what c sent while cut off from everyone reaches the others
    await pWaitFor(() => texts(atA, c.peerId).length === 1 && texts(atB, c.peerId).length === 1, { timeout: 30_000, interval: 100 })
    expect(texts(atA, c.peerId)).to.deep.equal(['from c, alone'])

    await pWaitFor(async () => rooms[0].member(c.peerId)?.route !== 'none', { timeout: 30_000, interval: 100 })
  })

  /**
   * a, which answers no replay (its budget is 1 byte a minute), sends
   * `count` messages in as many batches alone in `name`; then b joins
   */
  async function sentBeforeJoin (name: string, count: number): Promise<{ a: MeshNode, epoch: number, roomB: Room, atB: RoomMessage[] }> {
    const a = await createMember(relay.wsAddr, { mesh: { replayBudget: 1 } })
    nodes.push(a)
    const roomA = await a.services.mesh.join(name)
    let epoch = 0

    for (const text of numbered('m', count)) {
      epoch = (await roomA.send(encode(text))).epoch
      await delay(20)
    }

    const b = await createMember(relay.wsAddr)
    nodes.push(b)
    const roomB = await b.services.mesh.join(name)
    return { a, epoch, roomB, atB: inbox(roomB) }
  }

  it('sends a member that joins the messages it missed at once, marked replayed, not only when it asks for a replay', async () => {
    // what a sent before b came reaches b only if a sends it when their stream begins
    const { a, atB } = await sentBeforeJoin('missed', 3)
    await pWaitFor(() => atB.length === 3, { timeout: 30_000, interval: 50 })
    expect(texts(atB, a.peerId)).to.deep.equal(numbered('m', 3))
    expect(atB.every(m => m.replayed), 'sent before b came: marked replayed').to.be.true()
  })

  it('sends a member that joins at most the newest batches it missed; it asks for older ones in a replay', async () => {
    // 10 batches before b came: b gets the newest 8, which wait for the 2
    // before them, so it delivers none (all 10, if a sent them all)
    const { a, epoch, roomB, atB } = await sentBeforeJoin('missed-bound', 10)
    const log = (roomB as unknown as RoomImpl).messaging.log
    const key = streamKey(a.peerId, epoch)
    await pWaitFor(() => log.has(key, 10), { timeout: 30_000, interval: 50 })
    // a's replay answers end at once (truncated) and b asks again each interval
    await delay(2000)
    expect(numbered('', 10).map(seq => log.has(key, Number(seq))), 'b holds the newest 8').to.deep.equal([false, false, true, true, true, true, true, true, true, true])
    expect(atB, 'the two oldest batches were not sent').to.be.empty()
  })

  it('loses nothing while each member in turn is cut off from all others', async () => {
    const members = await Promise.all([0, 1, 2, 3].map(async () => createPartitionable(relay.wsAddr)))
    nodes = members.map(m => m.node)
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('churn')))
    const inboxes = rooms.map(inbox)
    await waitForFullMesh(rooms, nodes, 60_000)

    // every member is cut off once (gaters refuse it both ways) for 1.5 s,
    // then healed, while all four keep sending
    const state = { churning: true }
    const churn = (async () => {
      for (const i of members.keys()) {
        await isolate(members, i)
        await delay(1500)
        members.forEach(m => { m.heal() })
        await delay(1500)
      }
      state.churning = false
    })()
    const sent = await Promise.all(rooms.map(async (room, i) => {
      const texts: string[] = []

      while (state.churning) {
        const batch = numbered(`m${i}-${texts.length}-`, 10)
        texts.push(...batch)
        await Promise.all(batch.map(async text => room.send(encode(text))))
        await delay(100)
      }

      return texts
    }))
    await churn

    const complete = (): boolean => inboxes.every((messages, i) => nodes.every((node, j) => i === j || texts(messages, node.peerId).length === sent[j].length))
    await pWaitFor(complete, { timeout: 60_000, interval: 200 }).catch(() => {})

    for (const [i, messages] of inboxes.entries()) {
      for (const [j, node] of nodes.entries()) {
        if (i !== j) {
          expect(texts(messages, node.peerId), `member ${i} from member ${j}`).to.deep.equal(sent[j])
        }
      }
    }
  })

  it('a member restarted with its key and datastore keeps its log and gets only what it missed', async () => {
    const key = await generateKeyPair('Ed25519')
    const datastore = new MemoryDatastore()
    const a = await createMember(relay.wsAddr)
    let b = await createMember(relay.wsAddr, { privateKey: key, datastore })
    nodes = [a, b]
    const roomA = await a.services.mesh.join('restart')
    let roomB = await b.services.mesh.join('restart')
    let atB = inbox(roomB)
    const atA = inbox(roomA)
    await waitForFullMesh([roomA, roomB], nodes)

    await Promise.all(numbered('x', 10).map(async text => roomA.send(encode(text))))
    const sentByB = await roomB.send(encode('b before'))
    // a has b's message before b stops (send() resolves once it is queued, not delivered)
    await pWaitFor(() => atB.length === 10 && atA.length === 1, { timeout: 10_000, interval: 50 })

    await b.stop()
    await Promise.all(numbered('x', 30).slice(10).map(async text => roomA.send(encode(text))))

    b = await createMember(relay.wsAddr, { privateKey: key, datastore })
    nodes = [a, b]
    roomB = await b.services.mesh.join('restart')
    atB = inbox(roomB)
    await pWaitFor(() => atB.length === 20, { timeout: 30_000, interval: 100 })
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(texts(atB, a.peerId)).to.deep.equal(numbered('x', 30).slice(10))
    expect(atB.every(m => m.replayed)).to.be.true()

    // b goes on numbering where it stopped
    const sentAfter = await roomB.send(encode('b after'))
    expect(sentAfter.epoch).to.equal(sentByB.epoch)
    expect(sentAfter.seq).to.equal(sentByB.seq + 1)
    await pWaitFor(() => atA.length === 2, { timeout: 10_000, interval: 50 })
    expect(texts(atA, b.peerId)).to.deep.equal(['b before', 'b after'])
  })

  it('a datastore whose writes fail: store:failed events, messages still delivered, the node keeps running', async () => {
    // a datastore that takes the room's first writes, then fails every one under /relaymesh/rooms/
    class FailingDatastore extends MemoryDatastore {
      failing = false

      async put (key: Key, value: Uint8Array): Promise<Key> {
        if (this.failing && key.toString().startsWith('/relaymesh/rooms/')) {
          throw new Error('disk full')
        }

        return super.put(key, value)
      }
    }

    // a failed write must not become an unhandled rejection (in an app, that ends Node)
    const unhandled: unknown[] = []
    const onUnhandled = (err: unknown): void => { unhandled.push(err) }
    process.on('unhandledRejection', onUnhandled)

    try {
      const datastore = new FailingDatastore()
      const a = await createMember(relay.wsAddr)
      const b = await createMember(relay.wsAddr, { datastore })
      nodes = [a, b]
      const [roomA, roomB] = await Promise.all(nodes.map(async node => node.services.mesh.join('disk-full')))
      const atB = inbox(roomB)
      const failures: Error[] = []
      roomB.addEventListener('store:failed', (evt) => { failures.push(evt.detail) })
      await waitForFullMesh([roomA, roomB], nodes)

      datastore.failing = true
      await Promise.all(numbered('a', 5).map(async text => roomA.send(encode(text))))
      await pWaitFor(() => atB.length === 5, { timeout: 10_000, interval: 50 })
      expect(texts(atB, a.peerId)).to.deep.equal(numbered('a', 5))
      expect(failures.map(err => err.message)).to.include('disk full')

      // b's own messages go out while its seq reservation (written before
      // the failures) lasts, though they cannot be logged; once it runs out
      // no seq can be reserved, and sends fail: the room goes on
      const atA = inbox(roomA)
      const sends = await Promise.allSettled(numbered('b', SEQ_RESERVATION_BLOCK + 100).map(async text => roomB.send(encode(text))))
      const sent = sends.findIndex(result => result.status === 'rejected')
      expect(sent).to.be.within(SEQ_RESERVATION_BLOCK / 2, SEQ_RESERVATION_BLOCK)
      expect(sends.slice(0, sent).every(result => result.status === 'fulfilled')).to.be.true()
      expect(sends.slice(sent).map(result => result.status === 'rejected' ? result.reason.message : 'sent')).to.deep.equal(new Array(sends.length - sent).fill('disk full'))
      await pWaitFor(() => atA.length === sent, { timeout: 10_000, interval: 50 })
      expect(texts(atA, b.peerId)).to.deep.equal(numbered('b', sent))

      await roomA.send(encode('a6'))
      await pWaitFor(() => atB.length === 6, { timeout: 10_000, interval: 50 })
      expect(b.status).to.equal('started')
      expect(roomB.member(a.peerId)?.state).to.equal('direct')
      expect(unhandled, 'unhandled rejections').to.be.empty()
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('reports a gap for messages that no member holds any more', async () => {
    const members = await Promise.all([0, 1].map(async () => createPartitionable(relay.wsAddr, { mesh: { maxLogMessages: 10 } })))
    nodes = members.map(m => m.node)
    const [a, b] = nodes
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('gap')))
    const atB = inbox(rooms[1])
    const gaps: MessageGap[] = []
    rooms[1].addEventListener('gap', (evt) => { gaps.push(evt.detail) })
    await waitForFullMesh(rooms, nodes)

    await rooms[0].send(encode('m1'))
    await pWaitFor(() => atB.length === 1, { timeout: 10_000, interval: 50 })

    await members[0].cut(b.peerId)
    await members[1].cut(a.peerId)
    await pWaitFor(() => rooms[0].member(b.peerId)?.route === 'none', { timeout: 20_000, interval: 100 })
    // a's log keeps the last 10 of m2..m30, sent one at a time (a batch
    // sealed at once stays whole while any of its messages is held)
    for (const text of numbered('m', 30).slice(1)) {
      await rooms[0].send(encode(text))
    }

    members.forEach(m => { m.heal() })
    await pWaitFor(() => atB.length === 11, { timeout: 60_000, interval: 100 })
    expect(gaps).to.have.lengthOf(1)
    expect(gaps[0]).to.include({ from: 2, to: 20 })
    expect(gaps[0].sender.equals(a.peerId)).to.be.true()
    expect(texts(atB, a.peerId)).to.deep.equal(['m1', ...numbered('m', 30).slice(20)])
  })

  it('reports no gap while the sender, which holds the messages, is only out of reach', async () => {
    // c keeps only its newest message, so when b asks c it holds nothing older
    const members = await Promise.all([{}, {}, { mesh: { maxLogMessages: 1 } }].map(async init => createPartitionable(relay.wsAddr, init)))
    nodes = members.map(m => m.node)
    const [a, b, c] = nodes
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('no-false-gap')))
    const atB = inbox(rooms[1])
    const atC = inbox(rooms[2])
    const gaps: MessageGap[] = []
    rooms[1].addEventListener('gap', (evt) => { gaps.push(evt.detail) })
    await waitForFullMesh(rooms, nodes)

    await rooms[0].send(encode('m1'))
    await pWaitFor(() => atB.length === 1, { timeout: 10_000, interval: 50 })

    // a, cut off from both, sends m2..m6 (one batch); b and c are cut apart
    // too: c gets that batch whole when it asks a, and b must not ask c
    // while c still holds it
    await isolate(members, 0)
    await Promise.all([members[1].cut(c.peerId), members[2].cut(b.peerId)])
    await pWaitFor(() => rooms[1].member(a.peerId)?.route === 'none' && rooms[2].member(a.peerId)?.route === 'none', { timeout: 20_000, interval: 100 })
    await Promise.all(numbered('m', 6).slice(1).map(async text => rooms[0].send(encode(text))))
    members[0].heal()
    members[2].uncut(a.peerId)
    await pWaitFor(() => texts(atC, a.peerId).length === 6, { timeout: 30_000, interval: 100 })
    // m7, alone in its batch, pushes m2..m6 out of c's log
    await rooms[0].send(encode('m7'))
    await pWaitFor(() => texts(atC, a.peerId).length === 7, { timeout: 30_000, interval: 100 })

    // b and c again: m8 reaches b only through c, which holds nothing of
    // m2..m6: b asks c, c has not got them, but a, still in the room, has
    members[1].uncut(c.peerId)
    members[2].uncut(b.peerId)
    await pWaitFor(() => rooms[1].member(c.peerId)?.route === 'direct' || rooms[1].member(c.peerId)?.route === 'relayed', { timeout: 30_000, interval: 100 })
    await rooms[0].send(encode('m8'))
    await pWaitFor(() => rooms[1].member(a.peerId)?.route === 'forwarded', { timeout: 20_000, interval: 100 })
    await delay(3000)
    expect(gaps, 'a gap while the sender holds the messages').to.be.empty()
    // b skipped nothing: what it has is m1, and m7 and m8 wait behind the hole
    expect(texts(atB, a.peerId)).to.deep.equal(['m1'])

    // once b reaches a, it gets them all, in order
    members[1].heal()
    await pWaitFor(() => texts(atB, a.peerId).length === 8, { timeout: 30_000, interval: 100 })
    expect(texts(atB, a.peerId)).to.deep.equal(numbered('m', 8))
    expect(gaps).to.be.empty()
  })

  it('refuses a replay request from a peer that is not on the roster, or signed by another key', async () => {
    const outsiderKey = await generateKeyPair('Ed25519')
    const [a, b, outsider] = await Promise.all([{}, {}, { privateKey: outsiderKey }].map(async init => createMember(relay.wsAddr, init)))
    nodes = [a, b, outsider]
    const roster = [a.peerId, b.peerId]
    const rooms = await Promise.all([a, b].map(async node => node.services.mesh.join('signers', { roster, threshold: 2 })))
    await waitForFullMesh(rooms, [a, b])
    const atA = inbox(rooms[0])
    await rooms[1].send(encode('secret'))
    await pWaitFor(() => atA.length === 1, { timeout: 10_000, interval: 50 })
    const relayedAddr = a.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit/p2p/'))
    expect(relayedAddr).to.exist()

    const ask = async (request: Uint8Array<ArrayBuffer>): Promise<RejectedMessage> => {
      const rejected = pEvent<'mesh:message-rejected', CustomEvent<RejectedMessage>>(a.services.mesh, 'mesh:message-rejected', { timeout: 10_000 })
      const stream = await outsider.dialProtocol(relayedAddr!, '/relaymesh/mesh-replay/2.0.0', { runOnLimitedConnection: true })
      const lp = lpStream(stream)
      await lp.write(ReplayFrame.encode({ request }))
      // nothing of the log comes back: a refusal, or the stream is reset
      const reply = await lp.read({ signal: AbortSignal.timeout(10_000) }).then(bytes => ReplayFrame.decode(bytes.subarray()), () => undefined)
      expect(reply?.held ?? []).to.be.empty()
      expect(reply?.messages ?? []).to.be.empty()
      return (await rejected).detail
    }

    const own = await sealReplayRequest({ room: 'signers' }, outsiderKey) as Uint8Array<ArrayBuffer>
    expect((await ask(own)).error.name).to.equal('NotOnRosterError')

    // signed by a key that is not the sender's
    const otherKey = await generateKeyPair('Ed25519')
    const forged = await sealReplayRequest({ room: 'signers' }, otherKey) as Uint8Array<ArrayBuffer>
    expect((await ask(forged)).error.name).to.equal('WrongSignerError')
  })

  it('quorum: 2-1 and 1-1-1 partitions of a 3-member room with t = 2, then healing', async () => {
    const members = await Promise.all([0, 1, 2].map(async () => createPartitionable(relay.wsAddr)))
    nodes = members.map(m => m.node)
    const [a, b, c] = nodes
    const roster = nodes.map(node => node.peerId)
    const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('wallet', { roster, threshold: 2 })))
    const atC = inbox(rooms[2])
    await Promise.all(rooms.map(async room => room.waitForQuorum({ signal: AbortSignal.timeout(30_000) })))
    await waitForFullMesh(rooms, nodes)
    expect(rooms.map(room => room.hasQuorum)).to.deep.equal([true, true, true])

    // 2-1: c alone
    const lost = pEvent(rooms[2], 'quorum:lost', { timeout: 20_000 })
    await members[2].cut(a.peerId, b.peerId)
    await members[0].cut(c.peerId)
    await members[1].cut(c.peerId)
    await lost
    await pWaitFor(() => rooms[0].member(c.peerId)?.route === 'none' && rooms[1].member(c.peerId)?.route === 'none', { timeout: 20_000, interval: 100 })
    expect(rooms.map(room => room.hasQuorum), describeMesh(rooms, nodes)).to.deep.equal([true, true, false])

    // the majority decides while c is away
    await rooms[0].send(encode('sign tx 1'))
    await rooms[1].send(encode('signed tx 1'))

    // 1-1-1: a and b split too
    const lostA = pEvent(rooms[0], 'quorum:lost', { timeout: 20_000 })
    const lostB = pEvent(rooms[1], 'quorum:lost', { timeout: 20_000 })
    await members[0].cut(b.peerId)
    await members[1].cut(a.peerId)
    await Promise.all([lostA, lostB])
    expect(rooms.map(room => room.hasQuorum)).to.deep.equal([false, false, false])

    // healing restores it for all, and c gets what the majority sent
    const regained = rooms.map(async room => pEvent(room, 'quorum:regained', { timeout: 60_000 }))
    members.forEach(m => { m.heal() })
    await Promise.all(regained)
    expect(rooms.map(room => room.hasQuorum)).to.deep.equal([true, true, true])
    await pWaitFor(() => atC.length === 2, { timeout: 30_000, interval: 100 })
    expect(texts(atC, a.peerId)).to.deep.equal(['sign tx 1'])
    expect(texts(atC, b.peerId)).to.deep.equal(['signed tx 1'])
  })
})
