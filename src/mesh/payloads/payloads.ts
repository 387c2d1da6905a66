import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { PeerMap } from '@libp2p/peer-collections'
import { RateLimiter } from '@libp2p/utils'
import { anySignal } from 'any-signal'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { DEFAULT_MAX_CLOCK_SKEW } from '../../envelope/constants.ts'
import { MessageTooLargeError, ReplayedRecordError } from '../../envelope/errors.ts'
import { Signer } from '../../envelope/keys.ts'
import { MESSAGE_ENVELOPE_OVERHEAD } from '../constants.ts'
import { NotAMemberError } from '../errors.ts'
import { Frames, StreamEndedError } from '../frames.ts'
import { PayloadAnswer } from '../pb/payload.ts'
import { MANIFEST_SEALED_OVERHEAD, MAX_KEPT_PAYLOADS, MAX_PAYLOAD_NONCES_PER_MEMBER, MAX_PAYLOAD_STREAMS, MAX_PAYLOAD_STREAMS_PER_MEMBER, PAYLOAD_CHUNK, PAYLOAD_REQUEST_MAX_AGE, PAYLOAD_REQUESTS_PER_MINUTE, PAYLOAD_STALL_TIMEOUT } from './constants.ts'
import { IncomingPayloadImpl, Stall } from './incoming.ts'
import { blockCount, blockLength, decodeManifest, describePayload, encodeManifest, maxHashes, readRange, sealChunk } from './manifest.ts'
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
  /** forgets it then (unref'd), so a large Uint8Array is not held longer */
  timer: ReturnType<typeof setTimeout>
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
  /** what ends each member's payload streams */
  private readonly active = new PeerMap<Set<AbortController>>()
  /** nonces of the requests we gave our payloads for, per requester, with when each may be forgotten */
  private readonly nonces = new PeerMap<Map<string, number>>()
  private readonly requests = new RateLimiter({ points: PAYLOAD_REQUESTS_PER_MINUTE, duration: 60, keyPrefix: 'relaymesh-payload-requests' })
  private open = 0

  constructor (room: PayloadsRoom) {
    this.room = room
    this.signer = new Signer(room.ctx.components.privateKey)
  }

  /** the largest manifest a room message can carry: see `maxHashes` */
  private get maxHashes (): number {
    return maxHashes(this.room.ctx.init.maxMessageSize - MESSAGE_ENVELOPE_OVERHEAD - (this.room.cipher == null ? 0 : MANIFEST_SEALED_OVERHEAD))
  }

  /**
   * Describes a payload of ours (hashing each block) and keeps it to give
   * to the members; returns its manifest, to be signed and sent, and its id
   * (hex).
   *
   * @throws {InvalidParametersError} larger than `maxPayloadSize`, or a name or type too long
   */
  async prepare (source: PayloadSource, options: { name?: string, type?: string, recipient?: PeerId } = {}): Promise<{ manifest: Uint8Array, id: string }> {
    const size = source instanceof Uint8Array ? source.byteLength : source.size

    if (size > this.room.ctx.init.maxPayloadSize) {
      throw new InvalidParametersError(`a payload is at most ${this.room.ctx.init.maxPayloadSize} bytes (maxPayloadSize)`)
    }

    const manifest = await describePayload(source, { maxHashes: this.maxHashes, name: options.name, type: options.type, sealed: this.room.cipher != null })
    const key = hex(manifest.id)
    const retention = this.room.ctx.init.payloadRetention
    const timer = setTimeout(() => { this.discard(key) }, retention)
    ;(timer as { unref?(): void }).unref?.()
    this.kept.set(key, { source, manifest, recipient: options.recipient, until: Date.now() + retention, timer })

    while (this.kept.size > MAX_KEPT_PAYLOADS) {
      this.discard(this.kept.keys().next().value!)
    }

    return { manifest: encodeManifest(manifest), id: key }
  }

  /**
   * Checks a manifest a member sent.
   *
   * @throws {InvalidMessageError}
   */
  check (data: Uint8Array): Manifest {
    const manifest = decodeManifest(data)

    if ((manifest.key != null) !== (this.room.cipher != null)) {
      throw new InvalidMessageError(this.room.cipher == null ? 'a payload sealed with a key in an open room' : 'a payload of a private room that is not sealed')
    }

    return manifest
  }

  /**
   * The payload a member's (checked) manifest describes; one larger than
   * `maxPayloadSize` cannot be read (`MessageTooLargeError`)
   */
  incoming (sender: PeerId, data: Uint8Array): IncomingPayload {
    const manifest = this.check(data)
    const tooLarge = manifest.size > this.room.ctx.init.maxPayloadSize ? new MessageTooLargeError(`a payload of ${manifest.size} bytes is larger than this member takes (${this.room.ctx.init.maxPayloadSize})`) : undefined
    return new IncomingPayloadImpl(this.room, this.signer, sender, manifest, tooLarge)
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

    try {
      this.requests.consume(asker.toString())
    } catch (err: any) {
      if (err.isFirstInDuration === true || err.consumedPoints === PAYLOAD_REQUESTS_PER_MINUTE + 1) {
        this.room.reportIfRejected(asker, err)
      }

      await answer(frames, { error: 'too many requests', gone: false })
      return
    }

    if (streams >= MAX_PAYLOAD_STREAMS_PER_MEMBER || this.open >= MAX_PAYLOAD_STREAMS) {
      await answer(frames, { error: 'busy', gone: false })
      return
    }

    // ends with the asker's stream, or when the asker leaves
    const ended = new AbortController()
    const onClose = (): void => { ended.abort(new StreamEndedError('the asker\'s stream closed')) }
    stream.addEventListener('close', onClose)
    const active = this.active.get(asker) ?? new Set()
    active.add(ended)
    this.active.set(asker, active)
    this.streams.set(asker, streams + 1)
    this.open++

    const signal = anySignal([this.room.signal, ended.signal])

    try {
      if (request.owner.equals(this.room.ctx.components.peerId)) {
        await this.give(frames, request, asker, signal)
      } else {
        await this.passOn(frames, request, signal)
      }
    } finally {
      signal.clear()
      stream.removeEventListener('close', onClose)
      active.delete(ended)

      if (active.size === 0) {
        this.active.delete(asker)
      }

      this.open--
      const left = (this.streams.get(asker) ?? 1) - 1

      if (left === 0) {
        this.streams.delete(asker)
      } else {
        this.streams.set(asker, left)
      }
    }
  }

  /** a member left: its payload streams end, and its request nonces are forgotten */
  forget (peerId: PeerId): void {
    for (const ended of this.active.get(peerId) ?? []) {
      ended.abort(new NotAMemberError(`${peerId} left`))
    }

    this.nonces.delete(peerId)
  }

  /** forgets a payload of ours (its id in hex): nobody can fetch it any more */
  discard (key: string): void {
    clearTimeout(this.kept.get(key)?.timer)
    this.kept.delete(key)
  }

  /** forgets our payloads: nobody can fetch them any more */
  stop (): void {
    for (const key of [...this.kept.keys()]) {
      this.discard(key)
    }

    this.nonces.clear()
  }

  /** gives a payload of ours, from the block asked for, to a request not seen before */
  private async give (frames: Frames, request: PayloadFetch, asker: PeerId, signal: AbortSignal): Promise<void> {
    const kept = this.kept.get(hex(request.id))
    const count = kept == null ? 0 : blockCount(kept.manifest.size, kept.manifest.blockSize)

    if (kept == null || (kept.recipient != null && !kept.recipient.equals(request.requester)) || request.fromBlock >= count) {
      await answer(frames, { error: kept == null ? 'not held' : request.fromBlock >= count ? 'no such block' : 'not for this member', gone: true })
      return
    }

    if (!this.fresh(request)) {
      // a member that passed a request on, using it again for itself
      this.room.reportIfRejected(asker, new ReplayedRecordError(`${asker} sent a payload request of ${request.requester} that came before`))
      await answer(frames, { error: 'request used before', gone: true })
      return
    }

    // an asker that stops reading is left after PAYLOAD_STALL_TIMEOUT
    const stall = new Stall(signal)
    await answer(frames, {})

    try {
      await this.write(frames, kept, request, stall)
    } finally {
      stall.clear()
    }
  }

  /**
   * Writes a payload's blocks from the one asked for, a `PAYLOAD_CHUNK` a
   * frame (a private room's each sealed, see `sealChunk`).
   */
  private async write (frames: Frames, kept: Kept, request: PayloadFetch, stall: Stall): Promise<void> {
    const { manifest, source } = kept
    const count = blockCount(manifest.size, manifest.blockSize)
    let sent = request.fromBlock * manifest.blockSize

    for (let index = request.fromBlock; index < count; index++) {
      const end = sent + blockLength(manifest, index)

      // a frame's bytes at a time: held only while they are written
      for (let chunk = 0; sent < end; chunk++) {
        const length = Math.min(end - sent, PAYLOAD_CHUNK)
        const bytes = await sealChunk(manifest, index, chunk, await readRange(source, sent, sent + length))
        stall.arm(PAYLOAD_STALL_TIMEOUT)
        await frames.write([bytes], { signal: stall.signal })
        sent += length
      }

      this.room.safeDispatchEvent('payload:progress', { detail: { id: hex(manifest.id), peerId: request.requester, direction: 'upload', bytes: sent, total: manifest.size } })
    }
  }

  /**
   * Passes a request on to the payload's sender and what it answers back,
   * a frame at a time (the sender's stream is read only as fast as the
   * asker's takes it).
   */
  private async passOn (frames: Frames, request: PayloadFetch, signal: AbortSignal): Promise<void> {
    const owner = this.room.getMember(request.owner)

    if (owner?.session?.open !== true || owner.peerId.equals(request.requester)) {
      await answer(frames, { error: 'no stream with its sender', gone: false })
      return
    }

    const stall = new Stall(signal)
    stall.arm(PAYLOAD_STALL_TIMEOUT)
    let stream: Stream | undefined

    try {
      stream = await owner.session.connection.newStream(this.room.ctx.payloadProtocol, { signal: stall.signal, runOnLimitedConnection: true })
      const upstream = new Frames(stream, PAYLOAD_CHUNK + 1024)
      await upstream.write([request.bytes], { signal: stall.signal })

      while (true) {
        let frame

        try {
          frame = await upstream.read({ signal: stall.signal })
        } catch (err: any) {
          if (err.name === 'StreamEndedError') {
            return
          }

          throw err
        }

        await frames.write([frame.subarray()], { signal })
        stall.arm(PAYLOAD_STALL_TIMEOUT)
      }
    } finally {
      stall.clear()
      void stream?.close().catch(err => { stream?.abort(err) })
    }
  }

  /** records a request's nonce; false when it was seen (or its requester has too many recent ones) */
  private fresh (request: PayloadFetch): boolean {
    const now = Date.now()
    const key = hex(request.nonce)
    let nonces = this.nonces.get(request.requester)

    if (nonces == null) {
      nonces = new Map()
      this.nonces.set(request.requester, nonces)
    }

    for (const [nonce, until] of nonces) {
      if (until < now) {
        nonces.delete(nonce)
      }
    }

    if (nonces.has(key) || nonces.size >= MAX_PAYLOAD_NONCES_PER_MEMBER) {
      return false
    }

    // refused as stale from then on
    nonces.set(key, request.timestamp + PAYLOAD_REQUEST_MAX_AGE + DEFAULT_MAX_CLOCK_SKEW)
    return true
  }
}

async function answer (frames: Frames, fields: Partial<PayloadAnswer>): Promise<void> {
  await frames.write([PayloadAnswer.encode(fields)])
}
