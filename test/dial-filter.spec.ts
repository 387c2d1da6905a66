import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { dialHost, filterDials } from '../src/dial-filter.ts'

const RELAY = '12D3KooWAqcq3Sx8cwwHDvxwHZAxm7wSRP6czhRESLiFzZ2MP2sR'
const PEER = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'

describe('filterDials', () => {
  const denied = async (gater: ReturnType<typeof filterDials>, addr: string): Promise<boolean> => gater.denyDialMultiaddr?.(multiaddr(addr)) ?? false

  it('refuses private, loopback and link-local addresses, direct or as a relay', async () => {
    const gater = filterDials()

    for (const addr of ['/ip4/127.0.0.1/tcp/22', '/ip4/192.168.1.1/tcp/80/ws', '/ip4/10.0.0.7/tcp/4001', '/ip6/::1/tcp/8080', '/ip4/169.254.169.254/tcp/80', '/dns4/localhost/tcp/80',
      `/ip4/127.0.0.1/tcp/9090/ws/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${PEER}`]) {
      expect(await denied(gater, addr), addr).to.be.true()
    }
  })

  it('dials public addresses, and a WebRTC address (it has no host of its own)', async () => {
    const gater = filterDials()

    for (const addr of ['/ip4/8.8.8.8/tcp/443/wss', '/dns4/relay.example.com/tcp/443/tls/ws', `/webrtc/p2p/${PEER}`,
      `/ip4/8.8.8.8/tcp/443/wss/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${PEER}`]) {
      expect(await denied(gater, addr), addr).to.be.false()
    }
  })

  it('dials private addresses on the allowed hosts only', async () => {
    const gater = filterDials({}, { allowedHosts: ['127.0.0.1'] })

    expect(await denied(gater, '/ip4/127.0.0.1/tcp/9090/ws')).to.be.false()
    expect(await denied(gater, `/ip4/127.0.0.1/tcp/9091/ws/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${PEER}`)).to.be.false()
    expect(await denied(gater, '/ip4/127.0.0.2/tcp/9090/ws')).to.be.true()
    expect(await denied(gater, '/ip4/192.168.1.1/tcp/80')).to.be.true()
  })

  it('dials every private address when dialPrivateAddresses is set', async () => {
    const gater = filterDials({}, { dialPrivateAddresses: true })

    expect(await denied(gater, '/ip4/192.168.1.1/tcp/80')).to.be.false()
    expect(await denied(gater, '/ip6/::1/tcp/8080')).to.be.false()
  })

  it('refuses insecure WebSockets outside the allowed hosts when asked (browsers)', async () => {
    const gater = filterDials({}, { denyInsecureWebSockets: true, allowedHosts: ['127.0.0.1'] })

    expect(await denied(gater, '/ip4/8.8.8.8/tcp/80/ws')).to.be.true()
    expect(await denied(gater, `/ip4/8.8.8.8/tcp/80/ws/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${PEER}`)).to.be.true()
    expect(await denied(gater, '/ip4/8.8.8.8/tcp/443/wss')).to.be.false()
    expect(await denied(gater, '/ip4/8.8.8.8/tcp/443/tls/ws')).to.be.false()
    expect(await denied(gater, '/ip4/127.0.0.1/tcp/9090/ws')).to.be.false()
  })

  it('asks the wrapped gater as well', async () => {
    const gater = filterDials({ denyDialMultiaddr: (addr) => addr.toString().includes('/tcp/443') }, { allowedHosts: ['127.0.0.1'] })

    expect(await denied(gater, '/ip4/8.8.8.8/tcp/443/wss')).to.be.true()
    expect(await denied(gater, '/ip4/127.0.0.1/tcp/443/wss')).to.be.true()
    expect(await denied(gater, '/ip4/8.8.8.8/tcp/80')).to.be.false()
  })

  it('names the host an address is dialed on', () => {
    expect(dialHost(multiaddr('/dns4/relay.example.com/tcp/443/wss'))).to.equal('relay.example.com')
    expect(dialHost(multiaddr(`/ip4/127.0.0.1/tcp/9090/ws/p2p/${RELAY}/p2p-circuit/p2p/${PEER}`))).to.equal('127.0.0.1')
    expect(dialHost(multiaddr(`/webrtc/p2p/${PEER}`))).to.be.undefined()
  })
})
