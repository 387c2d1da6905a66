import { InvalidParametersError } from '@libp2p/interface'
import { PeerMap } from '@libp2p/peer-collections'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { Signer } from '../../envelope/keys.ts'
import { MESSAGE_ENVELOPE_OVERHEAD } from '../constants.ts'
import { NotAMemberError } from '../errors.ts'
import { Frames } from '../frames.ts'
import { PayloadAnswer } from '../pb/payload.ts'
import { MAX_KEPT_PAYLOADS, MAX_PAYLOAD_STREAMS, MAX_PAYLOAD_STREAMS_PER_MEMBER, PAYLOAD_CHUNK } from './constants.ts'
import { IncomingPayloadImpl } from './incoming.ts'
import { blockCount, blockLength, decodeManifest, describePayload, encodeManifest, maxHashes, readRange } from './manifest.ts'
import type { Manifest, PayloadSource } from './manifest.ts'
import type { PayloadFetch } from './request.ts'
import type { IncomingPayload } from '../index.ts'
import type { MessagingRoom } from '../messages/index.ts'
import type { Connection, PeerId, Stream } from '@libp2p/interface'

/**
 * What the payloads of a room need of it.
 */
export type PayloadsRoom = MessagingRoom & {
  readonly ctx: MessagingRoom['ctx'] & {
    /** the payload protocol id */
    payloadProtocol: string
  }
}

/** a payload of ours, kept to give to the members that fetch it */
interface Kept {
  source: PayloadSource
  manifest: Manifest
  /** a direct payload: the only member that may fetch it */
  recipient?: PeerId
  /** when it is forgotten, ms since the epoch */
  until: number
}

const hex = (bytes: Uint8Array): string => uint8ArrayToString(bytes, 'base16')

/**
 * A room's large payloads: ours are described (a manifest with the hash of
 * each block, sent as a room message or in a direct note) and kept for
 * `payloadRetention`; the members fetch the blocks on payload streams, from
 * us or through a member that reaches us (it passes the request and the
 * blocks on, frame by frame, holding none). See `IncomingPayloadImpl`.
 */
export class RoomPayloads {
  private readonly room: PayloadsRoom
  private readonly signer: Signer
  private readonly kept = new Map<string, Kept>()
  /** payload streams open per member (fetching from us, or through us) */
  private readonly streams = new PeerMap<number>()
  private open = 0

  constructor (room: PayloadsRoom) {
    this.room = room
    this.signer = new Signer(room.ctx.components.privateKey)
  }

  /** the largest manifest a room message can carry: see `maxHashes` */
  private get maxHashes (): number {
    return maxHashes(this.room.ctx.init.maxMessageSize - MESSAGE_ENVELOPE_OVERHEAD)
  }

  /**
   * Describes a payload of ours (hashing each block) and keeps it to give
   * to the members; returns its manifest, to be signed and sent.
   *
   * @throws {InvalidParametersError} larger than `maxPayloadSize`, or a name or type too long
   */
  async prepare (source: PayloadSource, options: { name?: string, type?: string, recipient?: PeerId } = {}): Promise<Uint8Array> {
    const size = source instanceof Uint8Array ? source.byteLength : source.size

    if (size > this.room.ctx.init.maxPayloadSize) {
      throw new InvalidParametersError(`a payload is at most ${this.room.ctx.init.maxPayloadSize} bytes (maxPayloadSize)`)
    }

    const manifest = await describePayload(source, { maxHashes: this.maxHashes, name: options.name, type: options.type })
    this.prune()
    this.kept.set(hex(manifest.id), { source, manifest, recipient: options.recipient, until: Date.now() + this.room.ctx.init.payloadRetention })

    while (this.kept.size > MAX_KEPT_PAYLOADS) {
      this.kept.delete(this.kept.keys().next().value!)
    }

    return encodeManifest(manifest)
  }

  /**
   * Checks a manifest a member sent.
   *
   * @throws {InvalidMessageError | MessageTooLargeError}
   */
  check (data: Uint8Array): Manifest {
    return decodeManifest(data, this.room.ctx.init.maxPayloadSize)
  }

  /** the payload a member's (checked) manifest describes */
  incoming (sender: PeerId, data: Uint8Array): IncomingPayload {
    return new IncomingPayloadImpl(this.room, this.signer, sender, this.check(data))
  }

  /**
   * A member's payload stream, its (signed) request read: we give the
   * blocks when the payload is ours, else pass the request on to its
   * sender and the blocks back. Refusals are answered (and reported when
   * the asker is not a member).
   */
  async serve (stream: Stream, connection: Connection, frames: Frames, request: PayloadFetch): Promise<void> {
    const asker = connection.remotePeer
    const streams = this.streams.get(asker) ?? 0

    if (this.room.getMember(asker)?.joined !== true || this.room.getMember(request.requester) == null) {
      const err = new NotAMemberError(`${asker} asked for a payload of room "${this.room.name}" for ${request.requester}, not a member`)
      this.room.reportIfRejected(asker, err)
      await answer(frames, { error: 'not a member', gone: true })
      return
    }

    if (streams >= MAX_PAYLOAD_STREAMS_PER_MEMBER || this.open >= MAX_PAYLOAD_STREAMS) {
      await answer(frames, { error: 'busy', gone: false })
      return
    }

    this.streams.set(asker, streams + 1)
    this.open++

    try {
      if (request.owner.equals(this.room.ctx.components.peerId)) {
        await this.give(frames, request)
      } else {
        await this.passOn(frames, request)
      }
    } finally {
      this.open--
      const left = (this.streams.get(asker) ?? 1) - 1

      if (left === 0) {
        this.streams.delete(asker)
      } else {
        this.streams.set(asker, left)
      }
    }
  }

  /** forgets our payloads: nobody can fetch them any more */
  stop (): void {
    this.kept.clear()
  }

  /** gives a payload of ours, from the block asked for */
  private async give (frames: Frames, request: PayloadFetch): Promise<void> {
    this.prune()
    const kept = this.kept.get(hex(request.id))

    if (kept == null || (kept.recipient != null && !kept.recipient.equals(request.requester))) {
      await answer(frames, { error: kept == null ? 'not held' : 'not for this member', gone: true })
      return
    }

    const { manifest, source } = kept
    const count = blockCount(manifest.size, manifest.blockSize)
    let sent = request.fromBlock * manifest.blockSize
    await answer(frames, {})

    for (let index = request.fromBlock; index < count; index++) {
      const end = sent + blockLength(manifest, index)

      // a frame's bytes at a time: held only while they are written
      while (sent < end) {
        const length = Math.min(end - sent, PAYLOAD_CHUNK)
        await frames.write([await readRange(source, sent, sent + length)], { signal: this.room.signal })
        sent += length
      }

      this.room.safeDispatchEvent('progress', { detail: { id: hex(manifest.id), peerId: request.requester, direction: 'upload', bytes: sent, total: manifest.size } })
    }
  }

  /**
   * Passes a request on to the payload's sender and what it answers back,
   * a frame at a time (the sender's stream is read only as fast as the
   * asker's takes it).
   */
  private async passOn (frames: Frames, request: PayloadFetch): Promise<void> {
    const owner = this.room.getMember(request.owner)

    if (owner?.session?.open !== true) {
      await answer(frames, { error: 'no stream with its sender', gone: false })
      return
    }

    const stream = await owner.session.connection.newStream(this.room.ctx.payloadProtocol, { signal: this.room.signal, runOnLimitedConnection: true })
    const upstream = new Frames(stream, PAYLOAD_CHUNK + 1024)

    try {
      await upstream.write([request.bytes], { signal: this.room.signal })

      while (true) {
        let frame

        try {
          frame = await upstream.read({ signal: this.room.signal })
        } catch (err: any) {
          if (err.name === 'StreamEndedError') {
            return
          }

          throw err
        }

        await frames.write([frame.subarray()], { signal: this.room.signal })
      }
    } finally {
      void stream.close().catch(err => { stream.abort(err) })
    }
  }

  /** forgets payloads past `payloadRetention` */
  private prune (): void {
    const now = Date.now()

    for (const [key, kept] of this.kept) {
      if (kept.until < now) {
        this.kept.delete(key)
      }
    }
  }
}

async function answer (frames: Frames, fields: Partial<PayloadAnswer>): Promise<void> {
  await frames.write([PayloadAnswer.encode(fields)])
}
