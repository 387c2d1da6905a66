import { isIP } from 'node:net'
import { Command, IPv4ProxyAddress, IPv6ProxyAddress, V1ProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js'
import { ProxyHeaderError } from './errors.ts'
import { plainAddress } from './trust.ts'

/** `PROXY ` starts a v1 (text) header */
const V1_SIGNATURE = Buffer.from('PROXY ')
/** the 12 bytes that start a v2 (binary) header */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
/** a v1 header is at most 107 bytes, CRLF included (the spec's limit) */
export const MAX_V1_HEADER = 107
/**
 * the largest v2 header accepted: 16 fixed bytes, 36 of IPv6 addresses and
 * room for a few TLVs (proxies that add certificates' details send more;
 * nginx sends none)
 */
export const MAX_V2_HEADER = 16 + 36 + 512

/**
 * What the first bytes of a connection say about a PROXY protocol header.
 */
export type Prelude =
  /** not enough bytes yet to tell */
  | { header: 'incomplete' }
  /** no PROXY header: the bytes are the client's own */
  | { header: 'none' }
  /**
   * a whole header of `length` bytes; `address`/`port` are the client's,
   * absent when the proxy sent none (v1 `UNKNOWN`, v2 `LOCAL` or `UNSPEC`:
   * health checks, where the socket's own address counts)
   */
  | { header: 'v1' | 'v2', length: number, address?: string, port?: number }

function startsLike (bytes: Buffer, signature: Buffer): boolean {
  const n = Math.min(bytes.length, signature.length)
  return bytes.subarray(0, n).equals(signature.subarray(0, n))
}

/**
 * Looks for a PROXY protocol v1 or v2 header at the start of `bytes`, the
 * first bytes a connection sent.
 *
 * @throws {ProxyHeaderError} when the header is malformed, too long, or not for a TCP client
 */
export function readPrelude (bytes: Buffer): Prelude {
  if (bytes.length === 0) {
    return { header: 'incomplete' }
  }

  if (startsLike(bytes, V2_SIGNATURE)) {
    if (bytes.length < 16) {
      return { header: 'incomplete' }
    }

    const length = 16 + bytes.readUInt16BE(14)

    if (length > MAX_V2_HEADER) {
      throw new ProxyHeaderError(`PROXY v2 header of ${length} bytes is longer than ${MAX_V2_HEADER}`)
    }

    if (bytes.length < length) {
      return { header: 'incomplete' }
    }

    return { header: 'v2', length, ...v2Address(bytes.subarray(0, length)) }
  }

  if (startsLike(bytes, V1_SIGNATURE)) {
    const end = bytes.subarray(0, MAX_V1_HEADER).indexOf('\r\n')

    if (end < 0) {
      if (bytes.length >= MAX_V1_HEADER) {
        throw new ProxyHeaderError(`PROXY v1 header without CRLF in its first ${MAX_V1_HEADER} bytes`)
      }

      return { header: 'incomplete' }
    }

    const length = end + 2
    return { header: 'v1', length, ...v1Address(bytes.subarray(0, length).toString('latin1')) }
  }

  return { header: 'none' }
}

function v1Address (text: string): { address?: string, port?: number } {
  if (text === 'PROXY UNKNOWN\r\n' || text.startsWith('PROXY UNKNOWN ')) {
    return {}
  }

  let parsed: V1ProxyProtocol

  try {
    parsed = V1ProxyProtocol.parse(text)
  } catch (err: any) {
    throw new ProxyHeaderError(`malformed PROXY v1 header: ${err.message}`)
  }

  return checked(parsed.source.ipAddress, parsed.source.port)
}

function v2Address (header: Buffer): { address?: string, port?: number } {
  let parsed: V2ProxyProtocol

  try {
    parsed = V2ProxyProtocol.parse(header)
  } catch (err: any) {
    throw new ProxyHeaderError(`malformed PROXY v2 header: ${err.message}`)
  }

  if (parsed.command === Command.LOCAL) {
    return {}
  }

  const proxied = parsed.proxyAddress

  if (proxied instanceof IPv4ProxyAddress) {
    return checked(proxied.sourceAddress.address.join('.'), proxied.sourcePort)
  }

  if (proxied instanceof IPv6ProxyAddress) {
    const bytes = proxied.sourceAddress.address

    if (bytes.slice(0, 10).every(b => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
      // IPv4-mapped (`::ffff:a.b.c.d`, a dual-stack proxy's IPv4 client): the IPv4 address, as a socket gives it
      return checked(bytes.slice(12, 16).join('.'), proxied.sourcePort)
    }

    const groups = []

    for (let i = 0; i < 16; i += 2) {
      groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16))
    }

    return checked(groups.join(':'), proxied.sourcePort)
  }

  // AF_UNSPEC: the proxy does not know (the spec: use the socket's address); AF_UNIX: no IP
  return {}
}

/**
 * The source as the listener uses it: a link-local address's `%zone` (which
 * names an interface of the proxy's host) dropped
 */
function checked (source: string, port: number): { address: string, port: number } {
  const address = plainAddress(source)

  if (isIP(address) === 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ProxyHeaderError(`PROXY header with an unusable source ${address} port ${port}`)
  }

  return { address, port }
}
