import { TimeoutError } from '@libp2p/interface'
import { anySignal } from 'any-signal'
import { Uint8ArrayList } from 'uint8arraylist'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { sleep } from '../../health/sleep.ts'
import { CorruptPayloadError, PayloadUnavailableError } from '../errors.ts'
import { Frames } from '../frames.ts'
import { PayloadAnswer } from '../pb/payload.ts'
import { PAYLOAD_ATTEMPTS, PAYLOAD_CHUNK, PAYLOAD_MIN_RATE, PAYLOAD_RETRY_INITIAL, PAYLOAD_RETRY_MAX, PAYLOAD_STALL_TIMEOUT } from './constants.ts'
import { blockCount, blockLength, isBlock, openBlock, sentLength } from './manifest.ts'
import { sealPayloadRequest } from './request.ts'
import type { Manifest } from './manifest.ts'
import type { PayloadsRoom } from './payloads.ts'
import type { Signer } from '../../envelope/keys.ts'
import type { IncomingPayload } from '../index.ts'
import type { Member } from '../member.ts'
import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import type { ClearableSignal } from 'any-signal'

/** extra bytes a payload frame may have besides its chunk */
const FRAME_SLACK = 1024

/**
 * A large payload another member sent (its signed manifest arrived as a room
 * message or a direct message). Reading it fetches its blocks from the
 * sender, or through a member that reaches the sender, and checks each
 * against the manifest before it is given; a fetch that breaks is taken up
 * where it stopped.
 */
export class IncomingPayloadImpl implements IncomingPayload {
  readonly id: string
  readonly sender: PeerId
  readonly size: number
  readonly name?: string
  readonly type?: string
  private readonly manifest: Manifest
  private readonly room: PayloadsRoom
  private readonly signer: Signer

  /** why it cannot be read (a payload larger than this member takes) */
  private readonly refused?: Error

  constructor (room: PayloadsRoom, signer: Signer, sender: PeerId, manifest: Manifest, refused?: Error) {
    this.room = room
    this.refused = refused
    this.signer = signer
    this.sender = sender
    this.manifest = manifest
    this.id = uint8ArrayToString(manifest.id, 'base16')
    this.size = manifest.size
    this.name = manifest.name
    this.type = manifest.type
  }

  async * read (options: AbortOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.refused != null) {
      throw this.refused
    }

    const count = blockCount(this.size, this.manifest.blockSize)
    const signal = anySignal([this.room.signal, options.signal])
    let block = 0
    let failures = 0
    let turn = 0

    try {
      while (block < count) {
        signal.throwIfAborted()
        const route = this.route(turn)

        try {
          if (route == null) {
            throw new PayloadUnavailableError(`no stream with ${this.sender} or any member that could pass payload ${this.id} on`)
          }

          for await (const bytes of this.fetch(route, block, signal)) {
            block++
            failures = 0
            this.room.safeDispatchEvent('payload:progress', { detail: { id: this.id, peerId: this.sender, direction: 'download', bytes: Math.min(this.size, block * this.manifest.blockSize), total: this.size } })
            yield bytes
          }
        } catch (err: any) {
          if (signal.aborted) {
            throw signal.reason
          }

          if (err instanceof SealedWrongError) {
            // it matched the hash the sender signed, so the sender sealed it
            // wrong, whoever passed it on: asking again will not help
            this.room.reportIfRejected(this.sender, err)
            throw err
          }

          if (err.name === 'CorruptPayloadError' && route!.peerId.equals(this.sender)) {
            // from the sender itself: its blocks do not match what it signed.
            // Through a member, either may be at fault: another route is tried
            this.room.reportIfRejected(route!.peerId, err)
          }

          if (err instanceof GoneError && route!.peerId.equals(this.sender)) {
            // the sender itself says so
            throw err
          }

          if (++failures >= PAYLOAD_ATTEMPTS) {
            throw err.name === 'PayloadUnavailableError' || err.name === 'CorruptPayloadError' ? err : new PayloadUnavailableError(`payload ${this.id} could not be fetched: ${err.message}`)
          }

          this.room.log('fetching payload %s from %p broke at block %d (attempt %d) - %e', this.id, route?.peerId, block, failures, err)
          turn++
          await sleep(Math.min(PAYLOAD_RETRY_MAX, PAYLOAD_RETRY_INITIAL * 2 ** (failures - 1)), signal)
          signal.throwIfAborted()
        }
      }
    } finally {
      signal.clear()
    }
  }

  /**
   * Asks `route` for the blocks from `from` on and yields each as it is
   * checked; the stream ends when the generator does.
   *
   * @throws {PayloadUnavailableError} the member does not give it; {CorruptPayloadError} a block that does not match; the stream's error, or a TimeoutError after `PAYLOAD_STALL_TIMEOUT` without a frame
   */
  private async * fetch (route: Member, from: number, signal: AbortSignal): AsyncGenerator<Uint8Array, void, undefined> {
    const count = blockCount(this.size, this.manifest.blockSize)
    // each block in its own time, not each frame: a member that trickles is left
    const stall = new Stall(signal)
    const arm = (): void => { stall.arm(PAYLOAD_STALL_TIMEOUT + blockLength(this.manifest, Math.min(block, count - 1)) / PAYLOAD_MIN_RATE * 1000) }
    const streamSignal = stall.signal
    let stream: Stream | undefined
    let block = from

    try {
      arm()
      stream = await route.session!.connection.newStream(this.room.ctx.payloadProtocol, { signal: streamSignal, runOnLimitedConnection: true })
      const frames = new Frames(stream, PAYLOAD_CHUNK + FRAME_SLACK)
      const request = await sealPayloadRequest({ room: this.room.id, owner: this.sender, id: this.manifest.id, fromBlock: from, requester: this.room.ctx.components.peerId }, this.signer)
      await frames.write([request.bytes], { signal: streamSignal })
      const answer = PayloadAnswer.decode((await frames.read({ signal: streamSignal })).subarray())

      if (answer.error != null) {
        const message = `${route.peerId} does not give payload ${this.id}: ${answer.error}`
        throw answer.gone ? new GoneError(message) : new PayloadUnavailableError(message)
      }

      const buffer = new Uint8ArrayList()

      while (block < count) {
        buffer.append(await frames.read({ signal: streamSignal }))

        while (block < count && buffer.byteLength >= sentLength(this.manifest, block)) {
          const length = sentLength(this.manifest, block)
          const bytes = buffer.subarray(0, length)
          buffer.consume(length)

          if (!await isBlock(this.manifest, block, bytes)) {
            throw new CorruptPayloadError(`block ${block} of payload ${this.id} from ${route.peerId} does not match its hash`)
          }

          // checked first: a block that matches its hash but does not
          // decrypt was sealed wrong by the sender itself
          const plain = await openBlock(this.manifest, block, bytes).catch((err: Error) => { throw new SealedWrongError(err.message) })
          block++
          arm()
          yield plain
        }
      }
    } finally {
      stall.clear()

      if (block < count) {
        stream?.abort(new Error('payload fetch ended'))
      } else {
        void stream?.close().catch(() => {})
      }
    }
  }

  async bytes (options?: AbortOptions): Promise<Uint8Array> {
    const bytes = new Uint8Array(this.size)
    let offset = 0

    for await (const block of this.read(options)) {
      bytes.set(block, offset)
      offset += block.byteLength
    }

    return bytes
  }

  async blob (options?: AbortOptions): Promise<Blob> {
    const parts: Array<Uint8Array<ArrayBuffer>> = []

    for await (const block of this.read(options)) {
      parts.push(block.slice())
    }

    return new Blob(parts, this.type == null ? {} : { type: this.type })
  }

  /**
   * The sender when we have a stream with it, else in turn each other
   * member we have one with (it passes the request and the blocks on).
   */
  private route (turn: number): Member | undefined {
    const owner = this.room.getMember(this.sender)

    if (owner?.session?.open === true) {
      return owner
    }

    const others = this.room.all().filter(member => member.session?.open === true && !member.peerId.equals(this.sender))
    return others.length === 0 ? undefined : others[turn % others.length]
  }
}

/** the sender answered that it does not hold the payload (any more), or not for us */
class GoneError extends PayloadUnavailableError {}

/** a block that matches its signed hash but does not decrypt: its sender sealed it wrong */
class SealedWrongError extends CorruptPayloadError {}

/**
 * A signal that aborts when `parent` does, or when `arm`'s time runs out
 * before it is armed again.
 */
export class Stall {
  private readonly controller = new AbortController()
  private timer?: ReturnType<typeof setTimeout>
  readonly signal: ClearableSignal

  constructor (parent: AbortSignal) {
    this.signal = anySignal([parent, this.controller.signal])
  }

  arm (ms: number): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.controller.abort(new TimeoutError(`nothing for ${Math.round(ms)} ms`)) }, ms)
  }

  /** ends the timer and lets go of `parent` */
  clear (): void {
    clearTimeout(this.timer)
    this.signal.clear()
  }
}
