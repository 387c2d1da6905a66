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
