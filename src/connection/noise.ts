import { noise } from '@libp2p/noise'
import type { ConnectionEncrypter, Logger, SecuredConnection } from '@libp2p/interface'
import type { NoiseComponents, NoiseExtensions, NoiseInit } from '@libp2p/noise'

/**
 * Noise's frame length: a two-byte big-endian prefix. Where `@libp2p/noise`'s
 * own decoder throws a `RangeError` when fewer than two bytes are buffered,
 * this one answers 0: `LengthPrefixedDecoder` then sees a frame longer than
 * what it holds and waits for more, as it does after the error.
 */
export function frameLength (data: { byteLength: number, get(index: number): number } | Uint8Array): number {
  if (data.byteLength < 2) {
    return 0
  }

  if (data instanceof Uint8Array) {
    return (data[0] << 8) + data[1]
  }

  return (data.get(0) << 8) + data.get(1)
}

interface DecoderHolder {
  decoder?: {
    lengthDecoder?: unknown
  }
}

/**
 * Gives a secured connection's frame decoder {@link frameLength}. Returns
 * whether it could (the decoder is an internal of `@libp2p/noise` 17: a
 * connection without one is left as it is).
 */
export function quietFrameDecoder (connection: unknown, log?: Logger): boolean {
  const decoder = (connection as DecoderHolder | undefined)?.decoder

  if (typeof decoder?.lengthDecoder !== 'function') {
    log?.error('relaymesh: a @libp2p/noise connection without a frame decoder to quiet; it throws an error per received chunk (docs/webrtc-fixes.md, fault 5)')
    return false
  }

  decoder.lengthDecoder = frameLength
  return true
}

/**
 * `@libp2p/noise` with one fix, made from outside (docs/webrtc-fixes.md,
 * fault 5): each secured connection's frame decoder gets a
 * length decoder that does not throw. `@libp2p/utils` 7.4's
 * `LengthPrefixedDecoder` asks for the next length after every frame it takes,
 * and Noise's decoder throws a `RangeError` (with its stack trace) when the
 * buffer is empty: one thrown error per received frame, 7 % of the CPU of a
 * busy process. A drop-in for `noise()`, with the same options.
 */
export function meshNoise (init?: NoiseInit): (components: NoiseComponents) => ConnectionEncrypter<NoiseExtensions> {
  return (components) => {
    const encrypter = noise(init)(components)
    const log = components.logger.forComponent('relaymesh:noise')
    const secureInbound = encrypter.secureInbound.bind(encrypter)
    const secureOutbound = encrypter.secureOutbound.bind(encrypter)

    return Object.assign(encrypter, {
      async secureInbound (...args: Parameters<typeof secureInbound>): Promise<SecuredConnection<NoiseExtensions>> {
        const secured = await secureInbound(...args)
        quietFrameDecoder(secured.connection, log)
        return secured
      },
      async secureOutbound (...args: Parameters<typeof secureOutbound>): Promise<SecuredConnection<NoiseExtensions>> {
        const secured = await secureOutbound(...args)
        quietFrameDecoder(secured.connection, log)
        return secured
      }
    })
  }
}
