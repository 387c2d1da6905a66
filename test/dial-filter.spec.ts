import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { dialHost, filterDials, isPrivateAddress } from '../src/dial-filter.ts'

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

  it('refuses DNS names of private addresses: localhost by name, others by what they resolve to', async () => {
    const resolved: Record<string, string[]> = { 'rebind.example.com': ['8.8.8.8', '10.0.0.5'], 'public.example.com': ['8.8.8.8'] }
    const gater = filterDials({}, {
      allowedHosts: ['relay.example.com'],
      resolveHost: async (name) => {
        if (name === 'relay.example.com') {
          throw new Error('an allowed host is not looked up')
        }

        if (resolved[name] == null) {
          throw new Error('ENOTFOUND')
        }

        return resolved[name]
      }
    })

    for (const addr of ['/dns4/LOCALHOST/tcp/80', '/dns4/localhost./tcp/80', '/dns6/x.localhost/tcp/80', '/dns4/Rebind.Example.com./tcp/443/wss']) {
      expect(await denied(gater, addr), addr).to.be.true()
    }

    for (const addr of ['/dns4/public.example.com/tcp/443/wss', '/dns4/relay.example.com/tcp/443/wss', '/dns4/unknown.example.com/tcp/443/wss']) {
      expect(await denied(gater, addr), addr).to.be.false()
    }

    // without a resolver (browsers) only localhost names are known private
    expect(await denied(filterDials(), '/dns4/rebind.example.com/tcp/443/wss')).to.be.false()
  })

  it('knows IPv6 forms that embed a private IPv4 address, and site-local ones', () => {
    for (const ip of ['64:ff9b::7f00:1', '64:ff9b::10.0.0.1', '::7f00:1', '::ffff:0:a00:1', '::ffff:7f00:1', '64:ff9b:1::1', 'fec0::1', '::1', 'fe80::1', 'fd00::1', '127.0.0.1', '192.168.1.1']) {
      expect(isPrivateAddress(ip), ip).to.be.true()
    }

    for (const ip of ['64:ff9b::808:808', '2001:4860:4860::8888', '::ffff:808:808', '8.8.8.8', '2606:4700::1111']) {
      expect(isPrivateAddress(ip), ip).to.be.false()
    }
  })

  it('names the host an address is dialed on', () => {
    expect(dialHost(multiaddr('/dns4/relay.example.com/tcp/443/wss'))).to.equal('relay.example.com')
    expect(dialHost(multiaddr(`/ip4/127.0.0.1/tcp/9090/ws/p2p/${RELAY}/p2p-circuit/p2p/${PEER}`))).to.equal('127.0.0.1')
    expect(dialHost(multiaddr(`/webrtc/p2p/${PEER}`))).to.be.undefined()
  })
})
