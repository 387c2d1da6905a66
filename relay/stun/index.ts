/**
 * A STUN server for the relay program: it answers Binding requests (RFC
 * 8489, and RFC 3489 clients) on a UDP port with the address it saw the
 * request come from, so members behind NATs learn their public address and
 * can reach each other directly over WebRTC. Nothing else: no TURN, no
 * authentication, no other method.
 *
 * Hostile input: a packet that is not a well-formed Binding request gets no
 * answer; an answer is 40 bytes (52 for IPv6) to a request of at least 20;
 * answers are rate-limited per source IP (an IPv6 /64 counting as one) and in
 * total, so the port cannot be
 * used to flood a spoofed address.
 */
import { createSocket } from 'node:dgram'
import { ListenError } from '../errors.ts'
import { StunRateLimits } from './limits.ts'
import { bindingResponse, parseBindingRequest } from './message.ts'
import type { ComponentLogger, CounterGroup, Metrics } from '@libp2p/interface'
import type { Socket } from 'node:dgram'

export { parseBindingRequest, bindingResponse, MAX_REQUEST_SIZE } from './message.ts'
export { InvalidStunMessageError } from './errors.ts'

/** Answers per second to one source IP (an IPv6 /64 counting as one) */
export const DEFAULT_STUN_RATE_PER_IP = 20

/** Answers per second in total */
export const DEFAULT_STUN_RATE = 2000

/** Source IPs (IPv6 /64s) counted per second; requests from more are not answered */
export const DEFAULT_STUN_MAX_SOURCES = 10_000

const WINDOW_MS = 1000

/**
 * Options of {@link startStunServer}.
 */
export interface StunServerInit {
  /** the address to listen on */
  host: string
  /** the UDP port; 0 = any free port */
  port: number
  /** answers per second to one source IP, an IPv6 /64 counting as one (default {@link DEFAULT_STUN_RATE_PER_IP}) */
  ratePerIp?: number
  /** answers per second in total (default {@link DEFAULT_STUN_RATE}) */
  rate?: number
  /** source IPs counted per second (default {@link DEFAULT_STUN_MAX_SOURCES}) */
  maxSources?: number
  logger: ComponentLogger
  /** counts requests as `relaymesh_stun_requests_total{result}` */
  metrics?: Metrics
}

/**
 * What a STUN server did with the packets it received.
 */
export interface StunStats {
  /** Binding requests answered */
  answered: number
  /** packets that were not well-formed Binding requests, not answered */
  invalid: number
  /** Binding requests over a rate limit, not answered */
  limited: number
}

/**
 * A running STUN server.
 */
export interface StunServer {
  /** the UDP port it listens on */
  port: number
  stats: StunStats
  stop(): Promise<void>
}

/**
 * Listens for STUN Binding requests on `host:port` (UDP).
 *
 * @throws {ListenError} when the port cannot be bound
 */
export async function startStunServer (init: StunServerInit): Promise<StunServer> {
  const log = init.logger.forComponent('relaymesh:relay:stun')
  const ratePerIp = init.ratePerIp ?? DEFAULT_STUN_RATE_PER_IP
  const rate = init.rate ?? DEFAULT_STUN_RATE
  const maxSources = init.maxSources ?? DEFAULT_STUN_MAX_SOURCES
  const stats: StunStats = { answered: 0, invalid: 0, limited: 0 }
  const counter: CounterGroup<keyof StunStats> | undefined = init.metrics?.registerCounterGroup('relaymesh_stun_requests_total', {
    label: 'result',
    help: 'Packets received on the STUN port: answered, invalid (not a Binding request) or limited (over a rate limit)'
  })
  const count = (result: keyof StunStats): void => {
    stats[result]++
    counter?.increment({ [result]: true })
  }

  // answers in the current one-second window, per source and in total
  const limits = new StunRateLimits(ratePerIp, rate, maxSources)
  const window = setInterval(() => {
    limits.reset()
  }, WINDOW_MS)
  window.unref()

  const socket: Socket = createSocket({ type: init.host.includes(':') ? 'udp6' : 'udp4' })

  socket.on('message', (msg, rinfo) => {
    let response: Uint8Array

    try {
      response = bindingResponse(parseBindingRequest(msg), rinfo.address, rinfo.port)
    } catch (err: any) {
      count('invalid')
      log.trace('ignored %d bytes from %s:%d - %s', msg.byteLength, rinfo.address, rinfo.port, err.message)
      return
    }

    if (!limits.admit(rinfo.address)) {
      count('limited')
      log.trace('rate limit: not answering %s:%d', rinfo.address, rinfo.port)
      return
    }

    count('answered')
    socket.send(response, rinfo.port, rinfo.address, (err) => {
      if (err != null) {
        log.error('could not answer %s:%d - %e', rinfo.address, rinfo.port, err)
      }
    })
  })

  socket.on('error', (err) => {
    // a send error is reported to its callback; keep serving
    log.error('socket error - %e', err)
  })

  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(init.port, init.host, () => {
        socket.off('error', reject)
        resolve()
      })
    })
  } catch (err: any) {
    clearInterval(window)
    socket.close()
    throw new ListenError(err.code === 'EADDRINUSE'
      ? `STUN port ${init.port} on ${init.host} is already in use`
      : `cannot listen for STUN on ${init.host}:${init.port}: ${err.code ?? err.message}`)
  }

  const port = socket.address().port
  log('serving STUN on %s:%d (udp)', init.host, port)

  let closed: Promise<void> | undefined

  return {
    port,
    stats,
    stop: async () => {
      clearInterval(window)
      closed ??= new Promise<void>(resolve => { socket.close(() => { resolve() }) })
      await closed
    }
  }
}
