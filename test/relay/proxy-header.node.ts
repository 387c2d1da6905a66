import { expect } from 'aegir/chai'
import { ipGroupOf } from '../../relay/server/utils.ts'
import { readPrelude } from '../../relay/websockets/proxy-header.ts'
import { forwardedFor, plainAddress, trustedProxies } from '../../relay/websockets/trust.ts'

const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]

/** a PROXY v2 header (PROXY command, TCP over IPv6) from `source` (16 bytes) port 5555 */
function v2Tcp6 (source: number[]): Buffer {
  const header = Buffer.alloc(16 + 36)
  Buffer.from(V2_SIGNATURE).copy(header)
  header[12] = 0x21
  header[13] = 0x21
  header.writeUInt16BE(36, 14)
  Buffer.from(source).copy(header, 16)
  header[16 + 31] = 1
  header.writeUInt16BE(5555, 48)
  header.writeUInt16BE(443, 50)
  return header
}

describe('relay websockets: client addresses from PROXY headers and X-Forwarded-For', () => {
  it('reads an IPv4-mapped IPv6 source of a PROXY v2 header as the IPv4 address, so per-IP limits keep IPv4 clients apart', () => {
    const a = readPrelude(v2Tcp6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]))
    const b = readPrelude(v2Tcp6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7]))

    expect(a).to.deep.equal({ header: 'v2', length: 52, address: '192.0.2.1', port: 5555 })
    expect(b).to.include({ address: '198.51.100.7' })
    expect(ipGroupOf(a.header === 'v2' ? a.address : '')).to.not.equal(ipGroupOf(b.header === 'v2' ? b.address : ''))

    // a plain IPv6 source is still grouped by its /64
    const c = readPrelude(v2Tcp6([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9]))
    expect(ipGroupOf(c.header === 'v2' ? c.address : '')).to.equal('2001:db8:1:2::/64')
  })

  it('groups the hex spellings of an IPv4-mapped address as the IPv4 address', () => {
    expect(ipGroupOf('0:0:0:0:0:ffff:c000:201')).to.equal('192.0.2.1')
    expect(ipGroupOf('::ffff:c000:201')).to.equal('192.0.2.1')
    expect(ipGroupOf('::FFFF:C633:6407')).to.equal('198.51.100.7')
    expect(ipGroupOf('::ffff:192.0.2.1')).to.equal('192.0.2.1')
    expect(ipGroupOf('0:0:0:0:0:ffff:192.0.2.1')).to.equal('192.0.2.1')
    // not mapped: ::ffff itself, and an address merely ending in ffff:x:y
    expect(ipGroupOf('::ffff')).to.equal('0:0:0:0::/64')
    expect(ipGroupOf('2001:db8::ffff:c000:201')).to.equal('2001:db8:0:0::/64')
  })

  it('drops the zone of a link-local address', () => {
    expect(plainAddress('fe80::1%eth0')).to.equal('fe80::1')
    expect(plainAddress('::ffff:192.0.2.1')).to.equal('192.0.2.1')
    expect(readPrelude(Buffer.from('PROXY TCP6 fe80::7%eth0 ::1 5555 443\r\n'))).to.include({ address: 'fe80::7' })
  })

  it('reads X-Forwarded-For entries with a port, brackets or a zone (the right-most untrusted one)', () => {
    const trusted = trustedProxies(['10.0.0.0/8'])
    const cases: Array<[string, string | undefined]> = [
      ['192.0.2.1:5678', '192.0.2.1'],
      ['[2001:db8::1]:443', '2001:db8::1'],
      ['[2001:db8::1]', '2001:db8::1'],
      ['2001:db8::1', '2001:db8::1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['[fe80::1%25eth0]:80', 'fe80::1'],
      ['198.51.100.9, 192.0.2.1:5678, 10.0.0.2:80', '192.0.2.1'],
      ['::ffff:192.0.2.1', '192.0.2.1'],
      // not addresses: nothing to count on
      ['192.0.2.1:http', undefined],
      ['[2001:db8::1]:', undefined],
      ['[2001:db8::1', undefined],
      ['2001:db8::1]:443', undefined],
      ['192.0.2.1:99999', undefined],
      ['relay.example.com:443', undefined],
      ['unknown', undefined]
    ]

    for (const [header, address] of cases) {
      expect(forwardedFor(header, trusted), header).to.equal(address)
    }
  })
})
