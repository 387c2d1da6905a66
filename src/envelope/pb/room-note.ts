import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface RoomNote {
  room: Uint8Array<ArrayBuffer>
  sender: Uint8Array<ArrayBuffer>
  kind: RoomNote.Kind
  timestamp: bigint
  id: Uint8Array<ArrayBuffer>
  recipient?: Uint8Array<ArrayBuffer>
  replyTo?: Uint8Array<ArrayBuffer>
  data: Uint8Array<ArrayBuffer>
  json: boolean
  cleared: boolean
  failed: boolean
  payload: boolean
}

export namespace RoomNote {
  export enum Kind {
    EPHEMERAL = 'EPHEMERAL',
    PRESENCE = 'PRESENCE',
    DIRECT = 'DIRECT',
    REQUEST = 'REQUEST',
    RESPONSE = 'RESPONSE',
    RECEIPT = 'RECEIPT'
  }

  enum __KindValues {
    EPHEMERAL = 0,
    PRESENCE = 1,
    DIRECT = 2,
    REQUEST = 3,
    RESPONSE = 4,
    RECEIPT = 5
  }

  export namespace Kind {
    export const codec = (): Codec<Kind> => {
      return enumeration<Kind>(__KindValues)
    }
  }

  let _codec: Codec<RoomNote>

  export const codec = (): Codec<RoomNote> => {
    if (_codec == null) {
      _codec = message<RoomNote>((obj, w, opts = {}) => {
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

        if (obj.kind != null && __KindValues[obj.kind] !== 0) {
          w.uint32(24)
          RoomNote.Kind.codec().encode(obj.kind, w)
        }

        if ((obj.timestamp != null && obj.timestamp !== 0n)) {
          w.uint32(32)
          w.uint64(obj.timestamp)
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.id)
        }

        if (obj.recipient != null) {
          w.uint32(50)
          w.bytes(obj.recipient)
        }

        if (obj.replyTo != null) {
          w.uint32(58)
          w.bytes(obj.replyTo)
        }

        if ((obj.data != null && obj.data.byteLength > 0)) {
          w.uint32(66)
          w.bytes(obj.data)
        }

        if ((obj.json != null && obj.json !== false)) {
          w.uint32(72)
          w.bool(obj.json)
        }

        if ((obj.cleared != null && obj.cleared !== false)) {
          w.uint32(80)
          w.bool(obj.cleared)
        }

        if ((obj.failed != null && obj.failed !== false)) {
          w.uint32(88)
          w.bool(obj.failed)
        }

        if ((obj.payload != null && obj.payload !== false)) {
          w.uint32(96)
          w.bool(obj.payload)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          room: uint8ArrayAlloc(0),
          sender: uint8ArrayAlloc(0),
          kind: Kind.EPHEMERAL,
          timestamp: 0n,
          id: uint8ArrayAlloc(0),
          data: uint8ArrayAlloc(0),
          json: false,
          cleared: false,
          failed: false,
          payload: false
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
              obj.kind = RoomNote.Kind.codec().decode(reader)
              break
            }
            case 4: {
              obj.timestamp = reader.uint64()
              break
            }
            case 5: {
              obj.id = reader.bytes()
              break
            }
            case 6: {
              obj.recipient = reader.bytes()
              break
            }
            case 7: {
              obj.replyTo = reader.bytes()
              break
            }
            case 8: {
              obj.data = reader.bytes()
              break
            }
            case 9: {
              obj.json = reader.bool()
              break
            }
            case 10: {
              obj.cleared = reader.bool()
              break
            }
            case 11: {
              obj.failed = reader.bool()
              break
            }
            case 12: {
              obj.payload = reader.bool()
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
                field: `${prefix}.sender`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.kind`,
                value: RoomNote.Kind.codec().decode(reader)
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.timestamp`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.id`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.recipient`,
                value: reader.bytes()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.replyTo`,
                value: reader.bytes()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.data`,
                value: reader.bytes()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.json`,
                value: reader.bool()
              }
              break
            }
            case 10: {
              yield {
                field: `${prefix}.cleared`,
                value: reader.bool()
              }
              break
            }
            case 11: {
              yield {
                field: `${prefix}.failed`,
                value: reader.bool()
              }
              break
            }
            case 12: {
              yield {
                field: `${prefix}.payload`,
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

  export interface RoomNoteRoomFieldEvent {
    field: '$.room'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomNoteSenderFieldEvent {
    field: '$.sender'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomNoteKindFieldEvent {
    field: '$.kind'
    value: RoomNote.Kind
  }

  export interface RoomNoteTimestampFieldEvent {
    field: '$.timestamp'
    value: bigint
  }

  export interface RoomNoteIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomNoteRecipientFieldEvent {
    field: '$.recipient'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomNoteReplyToFieldEvent {
    field: '$.replyTo'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomNoteDataFieldEvent {
    field: '$.data'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomNoteJsonFieldEvent {
    field: '$.json'
    value: boolean
  }

  export interface RoomNoteClearedFieldEvent {
    field: '$.cleared'
    value: boolean
  }

  export interface RoomNoteFailedFieldEvent {
    field: '$.failed'
    value: boolean
  }

  export interface RoomNotePayloadFieldEvent {
    field: '$.payload'
    value: boolean
  }

  export function encode (obj: Partial<RoomNote>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RoomNote.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomNote>): RoomNote {
    return decodeMessage(buf, RoomNote.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomNote>): Generator<RoomNoteRoomFieldEvent | RoomNoteSenderFieldEvent | RoomNoteKindFieldEvent | RoomNoteTimestampFieldEvent | RoomNoteIdFieldEvent | RoomNoteRecipientFieldEvent | RoomNoteReplyToFieldEvent | RoomNoteDataFieldEvent | RoomNoteJsonFieldEvent | RoomNoteClearedFieldEvent | RoomNoteFailedFieldEvent | RoomNotePayloadFieldEvent> {
    return streamMessage(buf, RoomNote.codec(), opts)
  }
}

export interface SignedRoomNote {
  note: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace SignedRoomNote {
  let _codec: Codec<SignedRoomNote>

  export const codec = (): Codec<SignedRoomNote> => {
    if (_codec == null) {
      _codec = message<SignedRoomNote>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.note != null && obj.note.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.note)
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
          note: uint8ArrayAlloc(0),
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.note = reader.bytes()
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
                field: `${prefix}.note`,
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

  export interface SignedRoomNoteNoteFieldEvent {
    field: '$.note'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SignedRoomNoteSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SignedRoomNote>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SignedRoomNote.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedRoomNote>): SignedRoomNote {
    return decodeMessage(buf, SignedRoomNote.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SignedRoomNote>): Generator<SignedRoomNoteNoteFieldEvent | SignedRoomNoteSignatureFieldEvent> {
    return streamMessage(buf, SignedRoomNote.codec(), opts)
  }
}
