import { CODE_IP4, CODE_IP6, CODE_P2P_CIRCUIT } from '@multiformats/multiaddr'
import { DEFAULT_DATA_LIMIT, DEFAULT_DURATION_LIMIT } from './constants.ts'
import type { RelayLimit, RelayServerInit } from './index.ts'
import type { Limit } from '../../src/circuit/index.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Whether the address goes through a relay
 */
export function isCircuit (addr: Multiaddr): boolean {
  return addr.getComponents().some(c => c.code === CODE_P2P_CIRCUIT)
}

/**
 * The IP address of a connection's remote address, if it has one
 */
export function ipOf (addr: Multiaddr): string | undefined {
  const first = addr.getComponents()[0]

  if (first?.code === CODE_IP4 || first?.code === CODE_IP6) {
    return first.value
  }
}

/**
 * The key per-IP limits count an address under: an IPv4 address as it is,
 * an IPv6 address by its /64 prefix (`2001:db8:1:2::/64`), since one host or
 * home network commonly gets a whole /64 and can use any address in it; an
 * IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, also spelt `::ffff:c000:201`) as its
 * IPv4 address
 */
export function ipGroupOf (ip: string | undefined): string | undefined {
  if (ip == null || !ip.includes(':')) {
    return ip
  }

  const mapped = ip.match(/^(?:::|(?:0{1,4}:){5})ffff:(\d+\.\d+\.\d+\.\d+)$/i)

  if (mapped != null) {
    return mapped[1]
  }

  // expand `::` so the first four groups are the /64
  const [head, tail] = ip.split('%')[0].split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail == null || tail === '' ? [] : tail.split(':')
  const groups = tail == null ? left : [...left, ...new Array(Math.max(8 - left.length - right.length, 0)).fill('0'), ...right]

  if (groups.length === 8 && groups.slice(0, 5).every(g => parseInt(g, 16) === 0) && /^ffff$/i.test(groups[5]) && !groups[7].includes('.')) {
    // IPv4-mapped in hex (`::ffff:c000:201`, `0:0:0:0:0:ffff:c000:201`): the IPv4 address
    const [hi, lo] = [parseInt(groups[6], 16), parseInt(groups[7], 16)]
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.')
  }

  const prefix = groups.slice(0, 4).map(g => (parseInt(g, 16) || 0).toString(16))

  while (prefix.length < 4) {
    prefix.push('0')
  }

  return `${prefix.join(':')}::/64`
}

/**
 * The per-IP key of a connection's remote address (see {@link ipGroupOf})
 */
export function ipKeyOf (addr: Multiaddr): string | undefined {
  return ipGroupOf(ipOf(addr))
}

/**
 * The limits circuits get under `init`; none when unlimited
 */
export function limitOf (init: RelayServerInit): RelayLimit | undefined {
  if (init.applyDefaultLimit === false) {
    return
  }

  const duration = init.defaultDurationLimit ?? DEFAULT_DURATION_LIMIT
  const data = BigInt(init.defaultDataLimit ?? DEFAULT_DATA_LIMIT)
  const limit: RelayLimit = {}

  if (duration > 0) {
    limit.duration = duration
  }

  if (data > 0n) {
    limit.data = data
  }

  return limit.duration == null && limit.data == null ? undefined : limit
}

/**
 * Converts limits in ms/bytes to the wire's Limit message (duration in
 * seconds, rounded up so the advertised limit is never shorter than ours)
 */
export function toWireLimit (limit?: RelayLimit): Limit | undefined {
  if (limit == null) {
    return
  }

  const wire: Limit = {}

  if (limit.duration != null && limit.duration > 0) {
    wire.duration = Math.min(Math.ceil(limit.duration / 1000), 0xffffffff)
  }

  if (limit.data != null && limit.data > 0n) {
    wire.data = limit.data
  }

  if (wire.duration == null && wire.data == null) {
    return
  }

  return wire
}
