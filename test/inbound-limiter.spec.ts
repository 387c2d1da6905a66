import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { inboundSourceKey } from '../src/inbound-limiter.ts'

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
