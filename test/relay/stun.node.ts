import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { crc32 } from 'node:zlib'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import pWaitFor from 'p-wait-for'
import { startRelayProgram } from '../../relay/relay.ts'
import { parseBindingRequest } from '../../relay/stun/index.ts'
import { StunRateLimits } from '../../relay/stun/limits.ts'
import { tempKeyFile } from '../fixtures/relay-process.ts'
import type { RelayProgram } from '../../relay/relay.ts'
import type { Socket } from 'node:dgram'

const COOKIE = 0x2112A442

/** a Binding request: RFC 5389 (with FINGERPRINT unless told otherwise), or classic RFC 3489 */
function bindingRequest (opts: { classic?: boolean, fingerprint?: boolean, attrs?: Buffer } = {}): Buffer {
  const attrs = opts.attrs ?? Buffer.alloc(0)
  const fingerprint = opts.classic !== true && opts.fingerprint !== false
  const msg = Buffer.alloc(20 + attrs.length + (fingerprint ? 8 : 0))
  msg.writeUInt16BE(0x0001, 0)
  msg.writeUInt16BE(msg.length - 20, 2)
  randomBytes(16).copy(msg, 4)

  if (opts.classic !== true) {
    msg.writeUInt32BE(COOKIE, 4)
  }

  attrs.copy(msg, 20)

  if (fingerprint) {
    const at = 20 + attrs.length
    msg.writeUInt16BE(0x8028, at)
    msg.writeUInt16BE(4, at + 2)
    msg.writeUInt32BE((crc32(msg.subarray(0, at)) ^ 0x5354554e) >>> 0, at + 4)
  }

  return msg
}

function attr (type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4)
  out.writeUInt16BE(type, 0)
  out.writeUInt16BE(value.length, 2)
  value.copy(out, 4)
  return out
}

/**
 * Sends `request` to `port` and resends it every second (as STUN clients
 * do: UDP may drop it on a loaded machine) until the answer with its
 * transaction id arrives
 */
async function ask (socket: Socket, request: Buffer, port: number, host = '127.0.0.1', timeout = 20_000): Promise<Buffer> {
  const id = request.subarray(4, 20)
  let resend: ReturnType<typeof setInterval> | undefined

  try {
    const answer = pEvent<'message', [Buffer]>(socket, 'message', { multiArgs: true, filter: ([msg]) => msg.length >= 20 && msg.subarray(4, 20).equals(id), timeout })
    socket.send(request, port, host)
    resend = setInterval(() => { socket.send(request, port, host) }, 1000)
    const [response] = await answer
    return response
  } finally {
    clearInterval(resend)
  }
}

/** every packet that reaches `socket` until `stop()` */
function record (socket: Socket): { packets: Buffer[], stop(): void } {
  const packets: Buffer[] = []
  const onMessage = (msg: Buffer): void => { packets.push(msg) }
  socket.on('message', onMessage)
  return { packets, stop: () => { socket.off('message', onMessage) } }
}

/** the mapped address in a success response to `request` */
function mappedAddress (response: Buffer, request: Buffer): { address: string, port: number, type: number } {
  expect(response.readUInt16BE(0)).to.equal(0x0101)
  expect(response.readUInt16BE(2)).to.equal(response.length - 20)
  expect(response.subarray(4, 20).equals(request.subarray(4, 20)), 'transaction id').to.be.true()
  const type = response.readUInt16BE(20)
  const xor = type === 0x0020
  const port = response.readUInt16BE(26) ^ (xor ? COOKIE >>> 16 : 0)
  const address = [...response.subarray(28, 32)].map((b, i) => b ^ (xor ? response[4 + i] : 0)).join('.')
  return { address, port, type }
}

describe('relay program: STUN server (--stun-port)', function () {
  this.timeout(60_000)
  let relay: RelayProgram
  let socket: Socket

  before(async () => {
    relay = await startRelayProgram({ port: 0, tcpPort: -1, keyFile: await tempKeyFile(), stunPort: 0, stun: { ratePerIp: 50 } })
  })

  beforeEach(async () => {
    socket = createSocket('udp4')
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
  })

  afterEach(() => {
    socket.close()
  })

  after(async () => {
    await relay?.stop()
  })

  it('gives coturn\'s STUN client (turnutils_stunclient) its reflexive address', async function () {
    if (!existsSync('/usr/bin/turnutils_stunclient')) {
      // the raw client below covers the protocol; this is a second, independent implementation
      this.skip()
    }

    const { stdout } = await promisify(execFile)('turnutils_stunclient', ['-p', String(relay.stun!.port), '127.0.0.1'], { timeout: 20_000 })
    expect(stdout).to.match(/UDP reflexive addr: 127\.0\.0\.1:\d+/)
  })

  it('answers an RFC 5389 Binding request with XOR-MAPPED-ADDRESS and a valid FINGERPRINT, 40 bytes', async () => {
    const request = bindingRequest()
    const response = await ask(socket, request, relay.stun!.port)

    expect(response).to.have.length(40)
    expect(mappedAddress(response, request)).to.deep.equal({ address: '127.0.0.1', port: socket.address().port, type: 0x0020 })
    expect(response.readUInt16BE(32)).to.equal(0x8028)
    expect(response.readUInt32BE(36)).to.equal((crc32(response.subarray(0, 32)) ^ 0x5354554e) >>> 0)
  })

  it('answers a request without FINGERPRINT, and a classic RFC 3489 one with MAPPED-ADDRESS only', async () => {
    const plain = bindingRequest({ fingerprint: false })
    const classic = bindingRequest({ classic: true })
    const [toPlain, toClassic] = await Promise.all([ask(socket, plain, relay.stun!.port), ask(socket, classic, relay.stun!.port)])

    expect(toClassic).to.have.length(32)
    expect(mappedAddress(toClassic, classic)).to.deep.equal({ address: '127.0.0.1', port: socket.address().port, type: 0x0001 })
    expect(mappedAddress(toPlain, plain).type).to.equal(0x0020)
  })

  it('does not answer packets that are not well-formed Binding requests, and keeps serving', async () => {
    const valid = bindingRequest({ fingerprint: false })
    const withType = (type: number): Buffer => { const b = Buffer.from(valid); b.writeUInt16BE(type, 0); return b }
    const badFingerprint = bindingRequest()
    badFingerprint.writeUInt32BE((badFingerprint.readUInt32BE(badFingerprint.length - 4) ^ 1) >>> 0, badFingerprint.length - 4)
    const lengthField = Buffer.from(valid)
    lengthField.writeUInt16BE(8, 2)
    const overrun = bindingRequest({ fingerprint: false, attrs: Buffer.from([0x80, 0x22, 0x00, 0x40, 0, 0, 0, 0]) })
    const fingerprintNotLast = bindingRequest({ fingerprint: false, attrs: Buffer.concat([attr(0x8028, Buffer.alloc(4)), attr(0x8022, Buffer.from('abcd'))]) })
    const username = bindingRequest({ attrs: attr(0x0006, Buffer.from('user:frag')) })
    const changeRequest = bindingRequest({ attrs: attr(0x0003, Buffer.from([0, 0, 0, 6])) })
    const oversized = bindingRequest({ fingerprint: false, attrs: attr(0x8022, Buffer.alloc(600)) })

    const bad = [
      Buffer.alloc(0),
      Buffer.alloc(19),
      valid.subarray(0, 19),
      withType(0x0101), // a response
      withType(0x0011), // a Binding indication
      withType(0x0003), // an Allocate (TURN)
      withType(0x4001), // first bits set: not STUN
      lengthField,
      overrun,
      badFingerprint,
      fingerprintNotLast,
      username,
      changeRequest,
      oversized,
      Buffer.alloc(65_000, 0xff),
      ...Array.from({ length: 200 }, () => randomBytes(20 + Math.floor(Math.random() * 200)))
    ]

    // each is refused by the parser...
    for (const [i, packet] of bad.entries()) {
      expect(() => parseBindingRequest(packet), `packet ${i}`).to.throw()
    }

    // ...and by the server, which answers none of them (UDP may drop some of
    // them on a loaded machine: the counter is not required to reach all)
    const stats = { ...relay.stun!.stats }
    const got = record(socket)

    try {
      // paced, so the kernel rarely drops any for a full receive buffer
      for (const [i, packet] of bad.entries()) {
        await promisify<Buffer, number, string>(socket.send.bind(socket))(packet, relay.stun!.port, '127.0.0.1')

        if (i % 10 === 9) {
          await new Promise(resolve => setTimeout(resolve, 5))
        }
      }

      await pWaitFor(() => relay.stun!.stats.invalid > stats.invalid, { timeout: 10_000, interval: 20 })

      // still serving (after the bad packets: one socket keeps their order),
      // and a CHANGE-REQUEST asking for nothing is fine
      const request = bindingRequest({ attrs: attr(0x0003, Buffer.alloc(4)) })
      expect(mappedAddress(await ask(socket, request, relay.stun!.port), request).port).to.equal(socket.address().port)

      expect(relay.stun!.stats.invalid - stats.invalid).to.be.within(1, bad.length)
      expect(relay.stun!.stats.limited).to.equal(stats.limited)
      expect(got.packets.every(p => p.subarray(4, 20).equals(request.subarray(4, 20))), 'only the valid request is answered').to.be.true()
      expect(relay.stun!.stats.answered - stats.answered).to.be.at.least(Math.max(got.packets.length, 1))
    } finally {
      got.stop()
    }
  })

  it('answers at most --rate per source IP per second: the port cannot flood a spoofed address', async () => {
    const limited = await startRelayProgram({ port: 0, tcpPort: -1, keyFile: await tempKeyFile(), stunPort: 0, stun: { ratePerIp: 5 } })

    try {
      const got = record(socket)
      const began = performance.now()

      for (let i = 0; i < 40; i++) {
        socket.send(bindingRequest(), limited.stun!.port, '127.0.0.1')
      }

      // the server counts what reaches it (UDP may drop a few on a loaded machine)
      const seen = (): number => limited.stun!.stats.answered + limited.stun!.stats.limited
      await pWaitFor(() => seen() >= 40, { timeout: 5000, interval: 20 }).catch(() => {})
      const windows = Math.ceil((performance.now() - began) / 1000) + 1
      got.stop()

      expect(seen()).to.be.at.least(30)
      // 5 per one-second window, in as many windows as the burst took to arrive
      expect(limited.stun!.stats.answered).to.be.within(5, 5 * windows)
      expect(limited.stun!.stats.limited).to.be.at.least(seen() - 5 * windows)
      expect(got.packets.length).to.be.at.most(limited.stun!.stats.answered)
    } finally {
      await limited.stop()
    }
  })

  it('counts an IPv6 /64 as one source: one host cannot take the total from many addresses', () => {
    const limits = new StunRateLimits(5, 1000, 100)
    const answered = Array.from({ length: 40 }, (_, i) => limits.admit(`2001:db8:1:2::${(i + 1).toString(16)}`)).filter(Boolean).length
    expect(answered).to.equal(5)
    expect(limits.admit('2001:db8:1:3::1'), 'another /64').to.be.true()
    expect(limits.admit('192.0.2.1')).to.be.true()
    limits.reset()
    expect(limits.admit('2001:db8:1:2::99'), 'a new window').to.be.true()
  })
})

describe('relay program: STUN server on IPv6', function () {
  this.timeout(60_000)

  it('answers on ::1 with an IPv6 XOR-MAPPED-ADDRESS (XORed with the cookie and transaction id), 52 bytes', async function () {
    const socket = createSocket('udp6')

    try {
      socket.bind(0, '::1')
      await once(socket, 'listening')
    } catch {
      socket.close()
      // no IPv6 loopback here
      this.skip()
    }

    const relay = await startRelayProgram({ host: '::1', port: 0, tcpPort: -1, keyFile: await tempKeyFile(), stunPort: 0 })

    try {
      expect(relay.iceServers).to.deep.equal([{ urls: [`stun:[::1]:${relay.stun!.port}`] }])
      const request = bindingRequest()
      const response = await ask(socket, request, relay.stun!.port, '::1')

      expect(response).to.have.length(52)
      expect(response.readUInt16BE(20)).to.equal(0x0020)
      expect(response.readUInt8(25)).to.equal(0x02)
      expect(response.readUInt16BE(26) ^ (COOKIE >>> 16)).to.equal(socket.address().port)
      const address = [...response.subarray(28, 44)].map((b, i) => b ^ response[4 + i])
      expect(address).to.deep.equal([...Array(15).fill(0), 1])
    } finally {
      socket.close()
      await relay.stop()
    }
  })
})
