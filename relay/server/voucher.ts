import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { RecordEnvelope } from '@libp2p/peer-record'
import { ReservationVoucher } from '../../src/circuit/index.ts'
import type { VoucherEnvelope as Envelope } from '../../src/circuit/index.ts'
import type { AbortOptions, PeerId, PrivateKey, Record } from '@libp2p/interface'

/**
 * The signing domain of reservation vouchers (circuit relay v2 spec)
 */
export const VOUCHER_DOMAIN = 'libp2p-relay-rsvp'

/**
 * The multicodec of reservation vouchers, `libp2p-relay-rsvp` (0x0302)
 */
export const VOUCHER_CODEC = new Uint8Array([0x03, 0x02])

export interface ReservationVoucherInit {
  /**
   * The relay that grants the reservation
   */
  relay: PeerId

  /**
   * The peer the reservation is for
   */
  peer: PeerId

  /**
   * Unix time in seconds when the reservation expires
   */
  expiration: bigint
}

/**
 * A reservation voucher as a signable record: the relay's promise to relay
 * connections to `peer` until `expiration`
 */
export class ReservationVoucherRecord implements Record {
  public readonly domain = VOUCHER_DOMAIN
  public readonly codec = VOUCHER_CODEC
  public readonly relay: PeerId
  public readonly peer: PeerId
  public readonly expiration: bigint

  constructor ({ relay, peer, expiration }: ReservationVoucherInit) {
    this.relay = relay
    this.peer = peer
    this.expiration = expiration
  }

  marshal (): Uint8Array {
    return ReservationVoucher.encode({
      relay: this.relay.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      peer: this.peer.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      expiration: this.expiration
    })
  }

  equals (other: Record): boolean {
    if (!(other instanceof ReservationVoucherRecord)) {
      return false
    }

    return this.peer.equals(other.peer) &&
      this.relay.equals(other.relay) &&
      this.expiration === other.expiration
  }
}

/**
 * Signs a voucher for `peer` with the relay's key and returns it in the wire
 * form of the Reservation message's `voucher` field
 */
export async function signVoucher (init: ReservationVoucherInit, privateKey: PrivateKey, options?: AbortOptions): Promise<Envelope> {
  const record = new ReservationVoucherRecord(init)
  const envelope = await RecordEnvelope.seal(record, privateKey, options)

  return {
    publicKey: publicKeyToProtobuf(envelope.publicKey) as Uint8Array<ArrayBuffer>,
    payloadType: envelope.payloadType as Uint8Array<ArrayBuffer>,
    payload: {
      relay: init.relay.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      peer: init.peer.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      expiration: init.expiration
    },
    signature: envelope.signature as Uint8Array<ArrayBuffer>
  }
}
