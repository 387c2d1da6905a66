import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { meshNoise, meshYamux } from '../../src/connection/index.ts'
import type { ConnectionEncrypter, Libp2p, StreamMuxerFactory } from '@libp2p/interface'

/**
 * The fixes relaymesh makes to `@libp2p/noise` and `@libp2p/yamux` from
 * outside (src/connection): two real libp2p nodes over TCP on loopback, one
 * stream of many small messages, once with the stock factories and once with
 * relaymesh's, counting what the fixes remove. The stock arm of each test is
 * what shows the test can fail.
 */

const PROTOCOL = '/relaymesh/test/sink/1.0.0'
const MESSAGE_SIZE = 1024
/** yamux's `WindowUpdate` frame type */
const WINDOW_UPDATE = 1

interface Counts {
  /** WINDOW_UPDATE frames the receiving node's muxers sent */
  windowUpdates: number
  /** errors the noise frame decoders' length decoder threw, both nodes */
  lengthDecoderThrows: number
}

/**
 * Wraps a muxer factory so that the WINDOW_UPDATE frames each of its muxers
 * writes are counted. Streams take the muxer's `sendFrame` when they are
 * made, so wrapping it on a new muxer sees every frame of its streams.
 */
function countingMuxer (factory: () => StreamMuxerFactory, counts: Counts): () => StreamMuxerFactory {
  return () => {
    const inner = factory()
    const createStreamMuxer = inner.createStreamMuxer.bind(inner)
    return Object.assign(inner, {
      createStreamMuxer (...args: Parameters<typeof createStreamMuxer>) {
        const muxer = createStreamMuxer(...args) as unknown as { sendFrame(header: { type: number }, ...rest: unknown[]): boolean }
        const sendFrame = muxer.sendFrame.bind(muxer)
        muxer.sendFrame = (header, ...rest) => {
          if (header.type === WINDOW_UPDATE) {
            counts.windowUpdates++
          }
          return sendFrame(header, ...rest)
        }
        return muxer as any
      }
    })
  }
}

/**
 * Wraps an encrypter factory so that every throw of each secured
 * connection's frame length decoder is counted (the decoder that
 * `@libp2p/noise` uses, or the one `meshNoise` gave it).
 */
function countingEncrypter (factory: (components: any) => ConnectionEncrypter, counts: Counts): (components: any) => ConnectionEncrypter {
  return (components) => {
    const inner = factory(components)
    const count = (secured: any): any => {
      const decoder = secured.connection.decoder
      const lengthDecoder = decoder.lengthDecoder
      decoder.lengthDecoder = (data: unknown) => {
        try {
          return lengthDecoder(data)
        } catch (err) {
          counts.lengthDecoderThrows++
          throw err
        }
      }
      return secured
    }
    const secureInbound = inner.secureInbound.bind(inner)
    const secureOutbound = inner.secureOutbound.bind(inner)
    return Object.assign(inner, {
      secureInbound: async (...args: Parameters<typeof secureInbound>) => count(await secureInbound(...args)),
      secureOutbound: async (...args: Parameters<typeof secureOutbound>) => count(await secureOutbound(...args))
    })
  }
}

async function node (encrypter: (components: any) => ConnectionEncrypter, muxer: () => StreamMuxerFactory): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [encrypter],
    streamMuxers: [muxer]
  })
}

/**
 * Sends `messages` messages of MESSAGE_SIZE bytes from one node to the other
 * on one stream (with `acknowledged`, each after the receiver acknowledged
 * the one before with a byte, so each travels alone, as a room's messages
 * mostly do) and counts WINDOW_UPDATE frames of the receiver and throws
 * of both nodes' noise length decoders meanwhile.
 */
async function transfer (encrypter: () => (components: any) => ConnectionEncrypter, muxer: () => () => StreamMuxerFactory, messages: number, acknowledged = false): Promise<Counts> {
  const counts: Counts = { windowUpdates: 0, lengthDecoderThrows: 0 }
  const sender = await node(countingEncrypter(encrypter(), counts), muxer())
  const receiver = await node(countingEncrypter(encrypter(), counts), countingMuxer(muxer(), counts))

  try {
    let received = 0
    const done = Promise.withResolvers<void>()
    await receiver.handle(PROTOCOL, async (stream) => {
      for await (const chunk of stream) {
        received += chunk.byteLength
        if (acknowledged && received % MESSAGE_SIZE === 0) {
          stream.send(new Uint8Array(1))
        }
        if (received === messages * MESSAGE_SIZE) {
          done.resolve()
        }
      }
    })

    const connection = await sender.dial(multiaddr(receiver.getMultiaddrs()[0]))
    const stream = await connection.newStream(PROTOCOL)

    counts.windowUpdates = 0
    counts.lengthDecoderThrows = 0

    const message = new Uint8Array(MESSAGE_SIZE).fill(7)
    const acks = stream[Symbol.asyncIterator]()
    for (let i = 0; i < messages; i++) {
      if (!stream.send(message)) {
        await stream.onDrain()
      }
      if (acknowledged) {
        await acks.next()
      }
    }
    await done.promise
    await stream.close()
    return counts
  } finally {
    await Promise.all([sender.stop(), receiver.stop()])
  }
}

describe('noise and yamux fixes', function () {
  this.timeout(60_000)

  it('yamux sends a window update per half window received, not per data frame', async () => {
    const stock = await transfer(() => noise(), () => yamux(), 2000)
    const ours = await transfer(() => meshNoise(), () => meshYamux(), 2000)

    // 2 MiB through a 256 KiB window: about 2 MiB / 128 KiB = 16 updates
    expect(ours.windowUpdates).to.be.within(1, 40, `relaymesh: ${ours.windowUpdates} window updates`)
    // the stock muxer answers (nearly) every data frame
    expect(stock.windowUpdates).to.be.above(200, `stock: ${stock.windowUpdates} window updates`)
  })

  it('noise reads its frames without throwing an error per frame', async () => {
    const stock = await transfer(() => noise(), () => meshYamux(), 300, true)
    const ours = await transfer(() => meshNoise(), () => meshYamux(), 300, true)

    expect(ours.lengthDecoderThrows).to.equal(0, `relaymesh: ${ours.lengthDecoderThrows} throws`)
    // stock: one per chunk of noise frames received, on both sides: here
    // about one per message and one per acknowledgement
    expect(stock.lengthDecoderThrows).to.be.above(300, `stock: ${stock.lengthDecoderThrows} throws`)
  })
})
