import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface PayloadManifest {
  id: Uint8Array<ArrayBuffer>
  size: bigint
  blockSize: number
  hashes: Uint8Array<ArrayBuffer>[]
  name: string
  type: string
  key: Uint8Array<ArrayBuffer>
}

export namespace PayloadManifest {
  let _codec: Codec<PayloadManifest>

  export const codec = (): Codec<PayloadManifest> => {
    if (_codec == null) {
      _codec = message<PayloadManifest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if ((obj.size != null && obj.size !== 0n)) {
          w.uint32(16)
          w.uint64(obj.size)
        }

        if ((obj.blockSize != null && obj.blockSize !== 0)) {
          w.uint32(24)
          w.uint32(obj.blockSize)
        }

        if (obj.hashes != null && obj.hashes.length > 0) {
          for (const value of obj.hashes) {
            w.uint32(34)
            w.bytes(value)
          }
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(42)
          w.string(obj.name)
        }

        if ((obj.type != null && obj.type !== '')) {
          w.uint32(50)
          w.string(obj.type)
        }

        if ((obj.key != null && obj.key.byteLength > 0)) {
          w.uint32(58)
          w.bytes(obj.key)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: uint8ArrayAlloc(0),
          size: 0n,
          blockSize: 0,
          hashes: [],
          name: '',
          type: '',
          key: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.bytes()
              break
            }
            case 2: {
              obj.size = reader.uint64()
              break
            }
            case 3: {
              obj.blockSize = reader.uint32()
              break
            }
            case 4: {
              if (opts.limits?.hashes != null && obj.hashes.length === opts.limits.hashes) {
                throw new MaxLengthError('Decode error - repeated field "hashes" had too many elements')
              }

              obj.hashes.push(reader.bytes())
              break
            }
            case 5: {
              obj.name = reader.string()
              break
            }
            case 6: {
              obj.type = reader.string()
              break
            }
            case 7: {
              obj.key = reader.bytes()
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
          hashes: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.id`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.blockSize`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              if (opts.limits?.hashes != null && obj.hashes === opts.limits.hashes) {
                throw new MaxLengthError('Streaming decode error - repeated field "hashes" had too many elements')
              }

              yield {
                field: `${prefix}.hashes[]`,
                index: obj.hashes,
                value: reader.bytes()
              }

              obj.hashes++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.type`,
                value: reader.string()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.key`,
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

  export interface PayloadManifestIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface PayloadManifestSizeFieldEvent {
    field: '$.size'
    value: bigint
  }

  export interface PayloadManifestBlockSizeFieldEvent {
    field: '$.blockSize'
    value: number
  }

  export interface PayloadManifestHashesFieldEvent {
    field: '$.hashes[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface PayloadManifestNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface PayloadManifestTypeFieldEvent {
    field: '$.type'
    value: string
  }

  export interface PayloadManifestKeyFieldEvent {
    field: '$.key'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<PayloadManifest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PayloadManifest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PayloadManifest>): PayloadManifest {
    return decodeMessage(buf, PayloadManifest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PayloadManifest>): Generator<PayloadManifestIdFieldEvent | PayloadManifestSizeFieldEvent | PayloadManifestBlockSizeFieldEvent | PayloadManifestHashesFieldEvent | PayloadManifestNameFieldEvent | PayloadManifestTypeFieldEvent | PayloadManifestKeyFieldEvent> {
    return streamMessage(buf, PayloadManifest.codec(), opts)
  }
}

export interface PayloadRequest {
  room: Uint8Array<ArrayBuffer>
  owner: Uint8Array<ArrayBuffer>
  id: Uint8Array<ArrayBuffer>
  fromBlock: number
  requester: Uint8Array<ArrayBuffer>
  timestamp: bigint
  nonce: Uint8Array<ArrayBuffer>
}

export namespace PayloadRequest {
  let _codec: Codec<PayloadRequest>

  export const codec = (): Codec<PayloadRequest> => {
    if (_codec == null) {
      _codec = message<PayloadRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.room != null && obj.room.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.room)
        }

        if ((obj.owner != null && obj.owner.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.owner)
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.id)
        }

        if ((obj.fromBlock != null && obj.fromBlock !== 0)) {
          w.uint32(32)
          w.uint32(obj.fromBlock)
        }

        if ((obj.requester != null && obj.requester.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.requester)
        }

        if ((obj.timestamp != null && obj.timestamp !== 0n)) {
          w.uint32(48)
          w.uint64(obj.timestamp)
        }

        if ((obj.nonce != null && obj.nonce.byteLength > 0)) {
          w.uint32(58)
          w.bytes(obj.nonce)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          room: uint8ArrayAlloc(0),
          owner: uint8ArrayAlloc(0),
          id: uint8ArrayAlloc(0),
          fromBlock: 0,
          requester: uint8ArrayAlloc(0),
          timestamp: 0n,
          nonce: uint8ArrayAlloc(0)
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
              obj.owner = reader.bytes()
              break
            }
            case 3: {
              obj.id = reader.bytes()
              break
            }
            case 4: {
              obj.fromBlock = reader.uint32()
              break
            }
            case 5: {
              obj.requester = reader.bytes()
              break
            }
            case 6: {
              obj.timestamp = reader.uint64()
              break
            }
            case 7: {
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
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.owner`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.id`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.fromBlock`,
                value: reader.uint32()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.requester`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.timestamp`,
                value: reader.uint64()
              }
              break
            }
            case 7: {
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

  export interface PayloadRequestRoomFieldEvent {
    field: '$.room'
    value: Uint8Array<ArrayBuffer>
  }

  export interface PayloadRequestOwnerFieldEvent {
    field: '$.owner'
    value: Uint8Array<ArrayBuffer>
  }

  export interface PayloadRequestIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface PayloadRequestFromBlockFieldEvent {
    field: '$.fromBlock'
    value: number
  }

  export interface PayloadRequestRequesterFieldEvent {
    field: '$.requester'
    value: Uint8Array<ArrayBuffer>
  }

  export interface PayloadRequestTimestampFieldEvent {
    field: '$.timestamp'
    value: bigint
  }

  export interface PayloadRequestNonceFieldEvent {
    field: '$.nonce'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<PayloadRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PayloadRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PayloadRequest>): PayloadRequest {
    return decodeMessage(buf, PayloadRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PayloadRequest>): Generator<PayloadRequestRoomFieldEvent | PayloadRequestOwnerFieldEvent | PayloadRequestIdFieldEvent | PayloadRequestFromBlockFieldEvent | PayloadRequestRequesterFieldEvent | PayloadRequestTimestampFieldEvent | PayloadRequestNonceFieldEvent> {
    return streamMessage(buf, PayloadRequest.codec(), opts)
  }
}

export interface SignedPayloadRequest {
  request: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace SignedPayloadRequest {
  let _codec: Codec<SignedPayloadRequest>

  export const codec = (): Codec<SignedPayloadRequest> => {
    if (_codec == null) {
      _codec = message<SignedPayloadRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.request != null && obj.request.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.request)
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
          request: uint8ArrayAlloc(0),
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.request = reader.bytes()
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
                field: `${prefix}.request`,
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

  export interface SignedPayloadRequestRequestFieldEvent {
    field: '$.request'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedPayloadRequestSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SignedPayloadRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SignedPayloadRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedPayloadRequest>): SignedPayloadRequest {
    return decodeMessage(buf, SignedPayloadRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedPayloadRequest>): Generator<SignedPayloadRequestRequestFieldEvent | SignedPayloadRequestSignatureFieldEvent> {
    return streamMessage(buf, SignedPayloadRequest.codec(), opts)
  }
}

export interface PayloadAnswer {
  error?: string
  gone: boolean
}

export namespace PayloadAnswer {
  let _codec: Codec<PayloadAnswer>

  export const codec = (): Codec<PayloadAnswer> => {
    if (_codec == null) {
      _codec = message<PayloadAnswer>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.error != null) {
          w.uint32(10)
          w.string(obj.error)
        }

        if ((obj.gone != null && obj.gone !== false)) {
          w.uint32(16)
          w.bool(obj.gone)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          gone: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.error = reader.string()
              break
            }
            case 2: {
              obj.gone = reader.bool()
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
                field: `${prefix}.error`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.gone`,
                value: reader.bool()
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

  export interface PayloadAnswerErrorFieldEvent {
    field: '$.error'
    value: string
  }

  export interface PayloadAnswerGoneFieldEvent {
    field: '$.gone'
    value: boolean
  }

  export function encode (obj: Partial<PayloadAnswer>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PayloadAnswer.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PayloadAnswer>): PayloadAnswer {
    return decodeMessage(buf, PayloadAnswer.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PayloadAnswer>): Generator<PayloadAnswerErrorFieldEvent | PayloadAnswerGoneFieldEvent> {
    return streamMessage(buf, PayloadAnswer.codec(), opts)
  }
}
