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

  it('gives a peer its point back when the handshake completes, so redials are not refused', async () => {
    const gater = limitInboundConnections({}, { perSource: 5, duration: 1 })
    const peer = peerIdFromString(PEER)

    for (let i = 0; i < 30; i++) {
      const maConn = connection(`/webrtc/p2p/${PEER}`)
      expect(await gater.denyInboundConnection?.(maConn), `connection ${i}`).to.be.false()
      expect(await gater.denyInboundEncryptedConnection?.(peer, maConn)).to.be.false()
    }

    // handshakes that never complete are still limited
    const denied = []

    for (let i = 0; i < 6; i++) {
      denied.push(await gater.denyInboundConnection?.(connection(`/webrtc/p2p/${PEER}`)))
    }

    expect(denied).to.deep.equal([false, false, false, false, false, true])
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

  it('keeps the wrapped gater’s decisions', async () => {
    const gater = limitInboundConnections({
      denyInboundConnection: async () => false,
      denyInboundEncryptedConnection: async () => true
    })

    const maConn = connection(`/webrtc/p2p/${PEER}`)
    expect(await gater.denyInboundConnection?.(maConn)).to.be.false()
    expect(await gater.denyInboundEncryptedConnection?.(peerIdFromString(PEER), maConn)).to.be.true()
  })
})
