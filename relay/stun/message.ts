import { isIPv4, isIPv6 } from 'node:net'
import { crc32 } from 'node:zlib'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidStunMessageError } from './errors.ts'

/** RFC 5389 magic cookie; its absence marks an RFC 3489 ("classic") client */
export const MAGIC_COOKIE = 0x2112A442

/** Binding request and success response message types */
export const BINDING_REQUEST = 0x0001
export const BINDING_SUCCESS = 0x0101

/** Attribute types */
export const MAPPED_ADDRESS = 0x0001
export const CHANGE_REQUEST = 0x0003
export const XOR_MAPPED_ADDRESS = 0x0020
export const FINGERPRINT = 0x8028

/** FINGERPRINT is the CRC-32 of the message up to it, XORed with this */
export const FINGERPRINT_XOR = 0x5354554e

/** STUN header length in bytes */
export const HEADER_SIZE = 20

/**
 * Longest request answered, in bytes: RFC 8489 asks for messages of at most
 * 548 bytes over UDP when the path MTU is unknown; a Binding request from an
 * ICE agent is 20 to about 100.
 */
export const MAX_REQUEST_SIZE = 548

/**
 * A well-formed Binding request.
 */
export interface BindingRequest {
  /** 12 bytes (RFC 5389), or 16 for a classic RFC 3489 client (cookie included) */
  transactionId: Uint8Array
  /** sent without the magic cookie: answered with MAPPED-ADDRESS only */
  classic: boolean
}

/**
 * Parses `msg` as a STUN Binding request. Anything else (another method or
 * class, a length that does not match, attributes that overrun the message, a
 * wrong FINGERPRINT or one that is not last, a comprehension-required
 * attribute we do not know, more than {@link MAX_REQUEST_SIZE} bytes) throws
 * an {@link InvalidStunMessageError}: the server does not answer it.
 */
export function parseBindingRequest (msg: Uint8Array): BindingRequest {
  if (msg.byteLength < HEADER_SIZE || msg.byteLength > MAX_REQUEST_SIZE) {
    throw new InvalidStunMessageError(`size ${msg.byteLength}`)
  }

  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  const type = view.getUint16(0)
  const length = view.getUint16(2)

  if (type !== BINDING_REQUEST) {
    throw new InvalidStunMessageError(`message type 0x${type.toString(16)}`)
  }

  if (length !== msg.byteLength - HEADER_SIZE || length % 4 !== 0) {
    throw new InvalidStunMessageError(`length field ${length} in a ${msg.byteLength} byte message`)
  }

  const classic = view.getUint32(4) !== MAGIC_COOKIE

  for (let offset = HEADER_SIZE; offset < msg.byteLength;) {
    if (offset + 4 > msg.byteLength) {
      throw new InvalidStunMessageError('truncated attribute')
    }

    const attr = view.getUint16(offset)
    const size = view.getUint16(offset + 2)
    const next = offset + 4 + Math.ceil(size / 4) * 4

    if (next > msg.byteLength) {
      throw new InvalidStunMessageError(`attribute 0x${attr.toString(16)} overruns the message`)
    }

    if (attr === FINGERPRINT) {
      if (classic || size !== 4 || next !== msg.byteLength) {
        throw new InvalidStunMessageError('FINGERPRINT is not a last 4 byte attribute')
      }

      if (((crc32(msg.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0) !== view.getUint32(offset + 4)) {
        throw new InvalidStunMessageError('wrong FINGERPRINT')
      }
    } else if (attr < 0x8000 && !(attr === CHANGE_REQUEST && size === 4 && view.getUint32(offset + 4) === 0)) {
      // comprehension-required: USERNAME, MESSAGE-INTEGRITY (an ICE check, not for us), a CHANGE-REQUEST we cannot honour, ...
      throw new InvalidStunMessageError(`comprehension-required attribute 0x${attr.toString(16)}`)
    }

    offset = next
  }

  return {
    transactionId: msg.slice(classic ? 4 : 8, HEADER_SIZE),
    classic
  }
}

/** the address's bytes; an IPv4-mapped IPv6 address (a dual-stack socket) is IPv4 */
function addressBytes (address: string): Uint8Array {
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address

  if (isIPv4(v4)) {
    return Uint8Array.from(v4.split('.').map(Number))
  }

  if (isIPv6(address)) {
    // the /ip6 code is one varint byte, then the 16 address bytes
    return multiaddr(`/ip6/${address}`).bytes.subarray(1)
  }

  throw new InvalidStunMessageError(`not an IP address: ${address}`)
}

/**
 * The Binding success response to `request` from `address:port`:
 * XOR-MAPPED-ADDRESS and FINGERPRINT (40 bytes for IPv4, 52 for IPv6), or
 * for a classic client MAPPED-ADDRESS alone (32 bytes; IPv4 only, as RFC
 * 3489 knows no other).
 */
export function bindingResponse (request: BindingRequest, address: string, port: number): Uint8Array {
  const ip = addressBytes(address)

  if (request.classic && ip.byteLength !== 4) {
    throw new InvalidStunMessageError('classic client on IPv6')
  }

  const attrSize = 4 + 4 + ip.byteLength
  const size = HEADER_SIZE + attrSize + (request.classic ? 0 : 8)
  const msg = new Uint8Array(size)
  const view = new DataView(msg.buffer)
  view.setUint16(0, BINDING_SUCCESS)
  view.setUint16(2, size - HEADER_SIZE)

  if (request.classic) {
    msg.set(request.transactionId, 4)
  } else {
    view.setUint32(4, MAGIC_COOKIE)
    msg.set(request.transactionId, 8)
  }

  view.setUint16(HEADER_SIZE, request.classic ? MAPPED_ADDRESS : XOR_MAPPED_ADDRESS)
  view.setUint16(HEADER_SIZE + 2, attrSize - 4)
  view.setUint8(HEADER_SIZE + 5, ip.byteLength === 4 ? 0x01 : 0x02)

  if (request.classic) {
    view.setUint16(HEADER_SIZE + 6, port)
    msg.set(ip, HEADER_SIZE + 8)
    return msg
  }

  // XOR with the cookie and, for IPv6, the transaction id: bytes 4 to 20 of the header
  view.setUint16(HEADER_SIZE + 6, port ^ (MAGIC_COOKIE >>> 16))
  ip.forEach((byte, i) => { msg[HEADER_SIZE + 8 + i] = byte ^ msg[4 + i] })

  const fp = HEADER_SIZE + attrSize
  view.setUint16(fp, FINGERPRINT)
  view.setUint16(fp + 2, 4)
  view.setUint32(fp + 4, (crc32(msg.subarray(0, fp)) ^ FINGERPRINT_XOR) >>> 0)

  return msg
}
