import '../fixtures/datachannel-cleanup.ts'
import { connect, createServer } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../../src/index.ts'
import { relayNamespaceCid } from '../../src/relays/namespace.ts'
import { freePort, startDelayProxy, startDelayedRelay } from '../fixtures/delay-proxy.ts'
import { testNodeInit } from '../fixtures/options.ts'
import { randomBytes } from '../fixtures/protocols.ts'
import type { DelayProxy, DelayedRelay } from '../fixtures/delay-proxy.ts'
import type { Libp2p, PeerInfo } from '@libp2p/interface'
import type { Server, Socket } from 'node:net'

const MiB = 1024 * 1024

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

async function listen (onConnection: (socket: Socket) => void): Promise<{ server: Server, port: number }> {
  const server = createServer({ allowHalfOpen: true }, onConnection)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return { server, port: typeof address === 'object' && address != null ? address.port : 0 }
}

async function connectTo (port: number, allowHalfOpen = true): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return socket
}

/**
 * Everything `socket` receives until the remote half-closes
 */
async function readToEnd (socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  await new Promise<void>((resolve, reject) => {
    socket.once('end', resolve)
    socket.once('error', reject)
  })
  return Buffer.concat(chunks)
}

async function closed (socket: Socket): Promise<Error | undefined> {
  let error: Error | undefined
  socket.on('error', (err) => { error = err })

  if (!socket.closed) {
    await new Promise(resolve => socket.once('close', resolve))
  }

  return error
}

describe('delaying TCP proxy', function () {
  this.timeout(60_000)
  let proxies: DelayProxy[] = []
  let servers: Server[] = []
  let sockets: Socket[] = []
  let relay: DelayedRelay | undefined
  let node: Libp2p | undefined

  afterEach(async () => {
    sockets.forEach(socket => socket.destroy())
    await node?.stop()
    await relay?.stop()
    await Promise.all(proxies.map(async proxy => proxy.stop()))
    await Promise.all(servers.map(async server => new Promise(resolve => server.close(resolve))))
    proxies = []
    servers = []
    sockets = []
    relay = undefined
    node = undefined
  })

  async function target (onConnection: (socket: Socket) => void): Promise<number> {
    const { server, port } = await listen(socket => {
      sockets.push(socket)
      onConnection(socket)
    })
    servers.push(server)
    return port
  }

  async function proxyTo (targetPort: number, delay: number): Promise<DelayProxy> {
    const proxy = await startDelayProxy({ targetPort, delay })
    proxies.push(proxy)
    return proxy
  }

  async function client (port: number, allowHalfOpen = true): Promise<Socket> {
    const socket = await connectTo(port, allowHalfOpen)
    sockets.push(socket)
    return socket
  }

  it('adds the configured round-trip time to libp2p pings to a relay behind it', async () => {
    relay = await startDelayedRelay(40)
    const pingNode = node = await createMeshNode(testNodeInit({ dialPrivateAddresses: true }))
    const addr = multiaddr(relay.addr)

    // the relay is reachable only through the proxy
    expect(relay.multiaddrs).to.deep.equal([relay.addr])
    expect(relay.addr).to.equal(`/ip4/127.0.0.1/tcp/${relay.proxy.port}/ws/p2p/${relay.peerId}`)

    const connection = await pingNode.dial(addr)
    const pings = async (count: number): Promise<number> => {
      const rtts: number[] = []
      while (rtts.length < count) {
        // one ping stream at a time: wait for the last one (or the connection
        // monitor's) to finish closing
        await pWaitFor(() => connection.streams.every(s => s.protocol !== '/ipfs/ping/1.0.0'), { timeout: 5000, interval: 10 })
        try {
          rtts.push(await pingNode.services.ping.ping(addr))
        } catch (err: any) {
          if (err.name !== 'TooManyOutboundProtocolStreamsError') {
            throw err
          }
        }
      }
      return median(rtts)
    }

    const at40 = await pings(9)
    expect(at40).to.be.within(35, 80)

    relay.proxy.setDelay(150)
    const at150 = await pings(5)
    expect(at150).to.be.within(145, 220)

    // its DHT record carries the proxy's address too
    const cid = await relayNamespaceCid()
    const found: PeerInfo[] = []
    for await (const provider of pingNode.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(10_000) })) {
      found.push(provider)
    }
    expect(found.map(p => p.id.toString())).to.deep.equal([relay.peerId])
    expect(found[0].multiaddrs.map(ma => ma.toString())).to.deep.equal([`/ip4/127.0.0.1/tcp/${relay.proxy.port}/ws`])
  })

  it('forwards 1 MiB each way intact and in order, then the half-close', async () => {
    const port = await target(socket => socket.pipe(socket))
    const proxy = await proxyTo(port, 20)
    const socket = await client(proxy.port)
    const payload = Buffer.from(randomBytes(MiB))
    const start = performance.now()
    const back = readToEnd(socket)

    for (let i = 0; i < payload.byteLength; i += 16 * 1024) {
      socket.write(payload.subarray(i, i + 16 * 1024))
    }
    socket.end()

    const echoed = await back
    expect(echoed.byteLength).to.equal(payload.byteLength)
    expect(echoed.equals(payload)).to.be.true()
    expect(performance.now() - start).to.be.at.least(20)
    await closed(socket)
  })

  it('pauses the source while the destination does not read', async () => {
    let accepted: Socket | undefined
    const port = await target(socket => {
      socket.pause()
      accepted = socket
    })
    const proxy = await proxyTo(port, 10)
    const socket = await client(proxy.port)
    const total = 48 * MiB
    const chunk = 64 * 1024

    for (let sent = 0; sent < total; sent += chunk) {
      socket.write(Buffer.alloc(chunk, (sent / chunk) % 256))
    }

    // let the buffers between client and target fill up
    let retained = -1
    await pWaitFor(async () => {
      const settled = retained === socket.writableLength
      retained = socket.writableLength
      await new Promise(resolve => setTimeout(resolve, 250))
      return settled
    }, { timeout: 20_000 })

    // without backpressure the proxy would take it all; with it, only what
    // the kernel's socket buffers and its 1 MiB queue hold leaves the client
    expect(total - retained).to.be.below(24 * MiB, `${((total - retained) / MiB).toFixed(1)} MiB left the client`)

    // once the target reads, every byte arrives in order
    let received = 0
    let wrong = 0
    const done = new Promise<void>(resolve => {
      accepted!.on('data', (data: Buffer) => {
        for (const byte of data) {
          if (byte !== Math.floor(received / chunk) % 256) {
            wrong++
          }
          received++
        }
        if (received === total) {
          resolve()
        }
      })
    })
    accepted!.resume()
    await done
    expect(wrong).to.equal(0)
  })

  it('resets the client when the target refuses the connection or resets it', async () => {
    const refusing = await proxyTo(await freePort(), 10)
    const first = await client(refusing.port)
    expect(await closed(first)).to.have.property('code', 'ECONNRESET')

    const port = await target(socket => {
      socket.once('data', () => socket.resetAndDestroy())
    })
    const resetting = await proxyTo(port, 10)
    const second = await client(resetting.port)
    second.write('hello')
    expect(await closed(second)).to.have.property('code', 'ECONNRESET')
  })

  it('stop() destroys every connection and leaves no timer, socket or listener of its own', async () => {
    const port = await target(socket => socket.pipe(socket))
    const proxy = await startDelayProxy({ targetPort: port, delay: 400 })
    // clients that close when the proxy does
    const open = await Promise.all([client(proxy.port, false), client(proxy.port, false), client(proxy.port, false)])

    // data in flight: each connection has a delay timer armed (the proxy's own
    // state: counts of the whole process's handles also see whatever else runs)
    open.forEach(socket => socket.write(Buffer.alloc(1024)))
    await pWaitFor(() => proxy.state().timers >= 3, { timeout: 5000, interval: 10 })
    expect(proxy.state()).to.include({ listening: true, sockets: 6, pipes: 6 })

    await proxy.stop()
    await Promise.all(open.map(async socket => closed(socket)))
    await pWaitFor(async () => new Promise<boolean>(resolve => {
      servers[0].getConnections((_, count) => { resolve(count === 0) })
    }), { timeout: 5000 })

    // the pipes go when both of their sockets' close events have run
    await pWaitFor(() => proxy.state().pipes === 0, { timeout: 5000, interval: 10 })
    expect(proxy.state()).to.deep.equal({ listening: false, sockets: 0, pipes: 0, timers: 0 })
    const refused = connect({ host: '127.0.0.1', port: proxy.port })
    expect(await closed(refused)).to.have.property('code', 'ECONNREFUSED')
  })
})
