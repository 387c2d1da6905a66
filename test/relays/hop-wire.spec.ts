import { expect } from 'aegir/chai'
import { HopMessage as RelayHopMessage, Status as RelayStatus, VoucherEnvelope } from '../../src/circuit/index.ts'
import { HopMessage as ClientHopMessage, Status as ClientStatus } from '../../src/relays/pb/hop.ts'

/**
 * The reservation client's view of HOP messages (src/relays/pb/hop.proto,
 * the voucher kept as bytes) and the relay server's (src/circuit, the voucher
 * decoded) are one wire format.
 */
describe('HOP messages: the reservation client\'s codec and the relay server\'s agree', () => {
  const voucher: VoucherEnvelope = {
    publicKey: Uint8Array.from([8, 1, 18, 32, ...new Array(32).fill(7)]),
    payloadType: Uint8Array.from([0x03, 0x02]),
    payload: { relay: Uint8Array.from([1, 2, 3]), peer: Uint8Array.from([4, 5, 6]), expiration: 1_900_000_000n },
    signature: new Uint8Array(64).fill(9)
  }
  const response: RelayHopMessage = {
    type: RelayHopMessage.Type.STATUS,
    status: RelayStatus.OK,
    reservation: { expire: 1_900_000_000n, addrs: [Uint8Array.from([4, 127, 0, 0, 1])], voucher },
    limit: { duration: 120, data: 1n << 20n }
  }

  it('the client reads what the relay sends, the voucher as its encoded bytes', () => {
    const read = ClientHopMessage.decode(RelayHopMessage.encode(response))

    expect(read.type).to.equal(ClientHopMessage.Type.STATUS)
    expect(read.status).to.equal(ClientStatus.OK)
    expect(read.reservation?.expire).to.equal(1_900_000_000n)
    expect(read.reservation?.addrs).to.deep.equal(response.reservation?.addrs)
    expect(read.reservation?.voucher).to.deep.equal(VoucherEnvelope.encode(voucher))
    expect(read.limit).to.deep.equal(response.limit)
  })

  it('what the client writes back decodes as the same message at the relay, voucher included', () => {
    const read = ClientHopMessage.decode(RelayHopMessage.encode(response))

    expect(RelayHopMessage.decode(ClientHopMessage.encode(read))).to.deep.equal(response)
    expect(RelayHopMessage.decode(ClientHopMessage.encode({ type: ClientHopMessage.Type.RESERVE }))).to.deep.equal({ type: RelayHopMessage.Type.RESERVE })
  })

  it('has the same enum values', () => {
    const values = (e: object): unknown[] => Object.entries(e).filter(([, value]) => typeof value !== 'function')

    expect(values(ClientStatus)).to.deep.equal(values(RelayStatus))
    expect(values(ClientHopMessage.Type)).to.deep.equal(values(RelayHopMessage.Type))
    // each status code on the wire, read by the other side
    for (const status of Object.values(RelayStatus).filter(value => typeof value === 'string')) {
      const read = ClientHopMessage.decode(RelayHopMessage.encode({ type: RelayHopMessage.Type.STATUS, status: status as RelayStatus }))
      expect(read.status, String(status)).to.equal(status)
    }
  })
})
