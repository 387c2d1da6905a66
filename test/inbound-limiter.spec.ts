import { defaultLogger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { inboundSourceKey, limitInboundConnections } from '../src/inbound-limiter.ts'
import type { MultiaddrConnection } from '@libp2p/interface'

const RELAY = '12D3KooWAqcq3Sx8cwwHDvxwHZAxm7wSRP6czhRESLiFzZ2MP2sR'
const PEER = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'

describe('inboundSourceKey', () => {
  it('counts a direct connection under its IP', () => {
    expect(inboundSourceKey(multiaddr('/ip4/10.1.2.3/tcp/4001'))).to.equal('ip:10.1.2.3')
    expect(inboundSourceKey(multiaddr('/ip6/::1/tcp/4001/ws'))).to.equal('ip:::1')
  })

  it('counts a relayed connection under the remote peer, not the relay IP', () => {
    const a = inboundSourceKey(multiaddr(`/ip4/127.0.0.1/tcp/9090/ws/p2p/${RELAY}/p2p-circuit/p2p/${PEER}`))
    expect(a).to.equal(`peer:${PEER}`)
    expect(a).to.not.equal(inboundSourceKey(multiaddr(`/ip4/127.0.0.1/tcp/9090/ws/p2p/${RELAY}/p2p-circuit/p2p/${RELAY}`)))
  })

  it('counts a WebRTC connection set up over a relay under the remote peer', () => {
    expect(inboundSourceKey(multiaddr(`/webrtc/p2p/${PEER}`))).to.equal(`peer:${PEER}`)
  })
})

describe('limitInboundConnections', () => {
  const log = defaultLogger().forComponent('test:inbound-limiter')
  const connection = (addr: string): MultiaddrConnection => ({ remoteAddr: multiaddr(addr), log }) as unknown as MultiaddrConnection

  it('refuses the sixth connection in a second from one source', async () => {
    const gater = limitInboundConnections({}, { perSource: 5, duration: 1 })
    const denied = []

    for (let i = 0; i < 6; i++) {
      denied.push(await gater.denyInboundConnection?.(connection(`/webrtc/p2p/${PEER}`)))
    }

    expect(denied).to.deep.equal([false, false, false, false, false, true])
    // another peer through the same relay is counted apart
    expect(await gater.denyInboundConnection?.(connection(`/ip4/127.0.0.1/tcp/9090/ws/p2p/${RELAY}/p2p-circuit/p2p/${RELAY}`))).to.be.false()
  })

  it('moves a peer\'s connection to the completed budget when its handshake completes, so redials are not refused', async () => {
    const gater = limitInboundConnections({}, { perSource: 5, duration: 1 })
    const peer = peerIdFromString(PEER)
    const outcomes = []

    // 4 × perSource completed connections in a second, then one more
    for (let i = 0; i < 21; i++) {
      const maConn = connection(`/webrtc/p2p/${PEER}`)
      expect(await gater.denyInboundConnection?.(maConn), `connection ${i}`).to.be.false()
      outcomes.push(await gater.denyInboundEncryptedConnection?.(peer, maConn))
    }

    expect(outcomes.slice(0, 20)).to.not.include(true)
    expect(outcomes[20], 'the 21st completed connection in a second').to.be.true()

    // handshakes that never complete are still limited to perSource
    const denied = []

    for (let i = 0; i < 6; i++) {
      denied.push(await gater.denyInboundConnection?.(connection(`/webrtc/p2p/${PEER}`)))
    }

    // the refused 21st kept its point
    expect(denied).to.deep.equal([false, false, false, false, true, true])
  })

  it('gives the point back also when the clock moves between its reads (a paused event loop)', async () => {
    const gater = limitInboundConnections({}, { perSource: 5, duration: 1 })
    const peer = peerIdFromString(PEER)
    const now = Date.now
    let clock = now()
    // every read of the clock is 5 ms after the last: what a collection or a
    // busy tab does between the limiter's reads and ours
    Date.now = () => (clock += 5)

    try {
      const outcomes = []

      for (let i = 0; i < 10; i++) {
        const maConn = connection(`/webrtc/p2p/${PEER}`)
        expect(await gater.denyInboundConnection?.(maConn), `connection ${i}`).to.be.false()
        outcomes.push(await gater.denyInboundEncryptedConnection?.(peer, maConn))
      }

      expect(outcomes).to.not.include(true)
    } finally {
      Date.now = now
    }
  })

  it('does not give a point back into a later window than the one it was taken from', async () => {
    const gater = limitInboundConnections({}, { perSource: 2, duration: 1 })
    const peer = peerIdFromString(PEER)
    const slow = connection(`/webrtc/p2p/${PEER}`)
    expect(await gater.denyInboundConnection?.(slow)).to.be.false()

    await new Promise(resolve => setTimeout(resolve, 1100))
    // the next window: two connections under way fill it
    expect(await gater.denyInboundConnection?.(connection(`/webrtc/p2p/${PEER}`))).to.be.false()
    expect(await gater.denyInboundConnection?.(connection(`/webrtc/p2p/${PEER}`))).to.be.false()
    // the first one's handshake completes now: it must not free a point of this window
    expect(await gater.denyInboundEncryptedConnection?.(peer, slow)).to.be.false()
    expect(await gater.denyInboundConnection?.(connection(`/webrtc/p2p/${PEER}`))).to.be.true()
  })

  it('counts every connection from an IP, completed or not, as stock libp2p does', async () => {
    const gater = limitInboundConnections({}, { perSource: 5, duration: 1 })
    const peer = peerIdFromString(PEER)
    const denied = []

    for (let i = 0; i < 6; i++) {
      const maConn = connection('/ip4/10.1.2.3/tcp/4001')
      const refused = await gater.denyInboundConnection?.(maConn)
      denied.push(refused)

      if (refused === false) {
        await gater.denyInboundEncryptedConnection?.(peer, maConn)
      }
    }

    expect(denied).to.deep.equal([false, false, false, false, false, true])
  })

  it('keeps the wrapped gater’s decisions, and a connection it refuses keeps its point', async () => {
    const gater = limitInboundConnections({
      denyInboundConnection: async () => false,
      denyInboundEncryptedConnection: async () => true
    }, { perSource: 2, duration: 1 })

    const maConn = connection(`/webrtc/p2p/${PEER}`)
    expect(await gater.denyInboundConnection?.(maConn)).to.be.false()
    expect(await gater.denyInboundEncryptedConnection?.(peerIdFromString(PEER), maConn)).to.be.true()
    expect(await gater.denyInboundConnection?.(connection(`/webrtc/p2p/${PEER}`))).to.be.false()
    expect(await gater.denyInboundConnection?.(connection(`/webrtc/p2p/${PEER}`))).to.be.true()
  })
})
