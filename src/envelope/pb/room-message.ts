import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface RoomBatch {
  room: Uint8Array<ArrayBuffer>
  sender: Uint8Array<ArrayBuffer>
  epoch: bigint
  firstSeq: bigint
  timestamp: bigint
  data: Uint8Array<ArrayBuffer>[]
  skippedFrom: bigint
  payloads: number[]
}

export namespace RoomBatch {
  let _codec: Codec<RoomBatch>

  export const codec = (): Codec<RoomBatch> => {
    if (_codec == null) {
      _codec = message<RoomBatch>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.room != null && obj.room.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.room)
        }

        if ((obj.sender != null && obj.sender.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.sender)
        }

        if ((obj.epoch != null && obj.epoch !== 0n)) {
          w.uint32(24)
          w.uint64(obj.epoch)
        }

        if ((obj.firstSeq != null && obj.firstSeq !== 0n)) {
          w.uint32(32)
          w.uint64(obj.firstSeq)
        }

        if ((obj.timestamp != null && obj.timestamp !== 0n)) {
          w.uint32(40)
          w.uint64(obj.timestamp)
        }

        if (obj.data != null && obj.data.length > 0) {
          for (const value of obj.data) {
            w.uint32(50)
            w.bytes(value)
          }
        }

        if ((obj.skippedFrom != null && obj.skippedFrom !== 0n)) {
          w.uint32(56)
          w.uint64(obj.skippedFrom)
        }

        if (obj.payloads != null && obj.payloads.length > 0) {
          for (const value of obj.payloads) {
            w.uint32(64)
            w.uint32(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          room: uint8ArrayAlloc(0),
          sender: uint8ArrayAlloc(0),
          epoch: 0n,
          firstSeq: 0n,
          timestamp: 0n,
          data: [],
          skippedFrom: 0n,
          payloads: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.room = reader.bytes()
              break
            }
            case 2: {
              obj.sender = reader.bytes()
              break
            }
            case 3: {
              obj.epoch = reader.uint64()
              break
            }
            case 4: {
              obj.firstSeq = reader.uint64()
              break
            }
            case 5: {
              obj.timestamp = reader.uint64()
              break
            }
            case 6: {
              if (opts.limits?.data != null && obj.data.length === opts.limits.data) {
                throw new MaxLengthError('Decode error - repeated field "data" had too many elements')
              }

              obj.data.push(reader.bytes())
              break
            }
            case 7: {
              obj.skippedFrom = reader.uint64()
              break
            }
            case 8: {
              if (opts.limits?.payloads != null && obj.payloads.length === opts.limits.payloads) {
                throw new MaxLengthError('Decode error - repeated field "payloads" had too many elements')
              }

              obj.payloads.push(reader.uint32())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          data: 0,
          payloads: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.room`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.sender`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.firstSeq`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.timestamp`,
                value: reader.uint64()
              }
              break
            }
            case 6: {
              if (opts.limits?.data != null && obj.data === opts.limits.data) {
                throw new MaxLengthError('Streaming decode error - repeated field "data" had too many elements')
              }

              yield {
                field: `${prefix}.data[]`,
                index: obj.data,
                value: reader.bytes()
              }

              obj.data++

              break
            }
            case 7: {
              yield {
                field: `${prefix}.skippedFrom`,
                value: reader.uint64()
              }
              break
            }
            case 8: {
              if (opts.limits?.payloads != null && obj.payloads === opts.limits.payloads) {
                throw new MaxLengthError('Streaming decode error - repeated field "payloads" had too many elements')
              }

              yield {
                field: `${prefix}.payloads[]`,
                index: obj.payloads,
                value: reader.uint32()
              }

              obj.payloads++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface RoomBatchRoomFieldEvent {
    field: '$.room'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomBatchSenderFieldEvent {
    field: '$.sender'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomBatchEpochFieldEvent {
    field: '$.epoch'
    value: bigint
  }

  export interface RoomBatchFirstSeqFieldEvent {
    field: '$.firstSeq'
    value: bigint
  }

  export interface RoomBatchTimestampFieldEvent {
    field: '$.timestamp'
    value: bigint
  }

  export interface RoomBatchDataFieldEvent {
    field: '$.data[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomBatchSkippedFromFieldEvent {
    field: '$.skippedFrom'
    value: bigint
  }

  export interface RoomBatchPayloadsFieldEvent {
    field: '$.payloads[]'
    index: number
    value: number
  }

  export function encode (obj: Partial<RoomBatch>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RoomBatch.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomBatch>): RoomBatch {
    return decodeMessage(buf, RoomBatch.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomBatch>): Generator<RoomBatchRoomFieldEvent | RoomBatchSenderFieldEvent | RoomBatchEpochFieldEvent | RoomBatchFirstSeqFieldEvent | RoomBatchTimestampFieldEvent | RoomBatchDataFieldEvent | RoomBatchSkippedFromFieldEvent | RoomBatchPayloadsFieldEvent> {
    return streamMessage(buf, RoomBatch.codec(), opts)
  }
}

export interface SignedRoomBatch {
  batch: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace SignedRoomBatch {
  let _codec: Codec<SignedRoomBatch>

  export const codec = (): Codec<SignedRoomBatch> => {
    if (_codec == null) {
      _codec = message<SignedRoomBatch>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.batch != null && obj.batch.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.batch)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          batch: uint8ArrayAlloc(0),
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.batch = reader.bytes()
              break
            }
            case 2: {
              obj.signature = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.batch`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SignedRoomBatchBatchFieldEvent {
    field: '$.batch'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedRoomBatchSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SignedRoomBatch>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SignedRoomBatch.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedRoomBatch>): SignedRoomBatch {
    return decodeMessage(buf, SignedRoomBatch.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedRoomBatch>): Generator<SignedRoomBatchBatchFieldEvent | SignedRoomBatchSignatureFieldEvent> {
    return streamMessage(buf, SignedRoomBatch.codec(), opts)
  }
}

export interface ReplayRequest {
  room: string
  requester: Uint8Array<ArrayBuffer>
  timestamp: bigint
  nonce: Uint8Array<ArrayBuffer>
}

export namespace ReplayRequest {
  let _codec: Codec<ReplayRequest>

  export const codec = (): Codec<ReplayRequest> => {
    if (_codec == null) {
      _codec = message<ReplayRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.room != null && obj.room !== '')) {
          w.uint32(10)
          w.string(obj.room)
        }

        if ((obj.requester != null && obj.requester.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.requester)
        }

        if ((obj.timestamp != null && obj.timestamp !== 0n)) {
          w.uint32(24)
          w.uint64(obj.timestamp)
        }

        if ((obj.nonce != null && obj.nonce.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.nonce)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          room: '',
          requester: uint8ArrayAlloc(0),
          timestamp: 0n,
          nonce: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.room = reader.string()
              break
            }
            case 2: {
              obj.requester = reader.bytes()
              break
            }
            case 3: {
              obj.timestamp = reader.uint64()
              break
            }
            case 5: {
              obj.nonce = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.room`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.requester`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.timestamp`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.nonce`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ReplayRequestRoomFieldEvent {
    field: '$.room'
    value: string
  }

  export interface ReplayRequestRequesterFieldEvent {
    field: '$.requester'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ReplayRequestTimestampFieldEvent {
    field: '$.timestamp'
    value: bigint
  }

  export interface ReplayRequestNonceFieldEvent {
    field: '$.nonce'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<ReplayRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ReplayRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ReplayRequest>): ReplayRequest {
    return decodeMessage(buf, ReplayRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ReplayRequest>): Generator<ReplayRequestRoomFieldEvent | ReplayRequestRequesterFieldEvent | ReplayRequestTimestampFieldEvent | ReplayRequestNonceFieldEvent> {
    return streamMessage(buf, ReplayRequest.codec(), opts)
  }
}
