import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface MeshMessage {
  record?: Uint8Array<ArrayBuffer>
  heartbeat?: Heartbeat
  message?: Uint8Array<ArrayBuffer>
  forwardTo: Uint8Array<ArrayBuffer>[]
  missed?: boolean
  note?: Uint8Array<ArrayBuffer>
  auth?: RoomAuth
}

export namespace MeshMessage {
  let _codec: Codec<MeshMessage>

  export const codec = (): Codec<MeshMessage> => {
    if (_codec == null) {
      _codec = message<MeshMessage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.record != null) {
          w.uint32(10)
          w.bytes(obj.record)
        }

        if (obj.heartbeat != null) {
          w.uint32(18)
          Heartbeat.codec().encode(obj.heartbeat, w)
        }

        if (obj.message != null) {
          w.uint32(26)
          w.bytes(obj.message)
        }

        if (obj.forwardTo != null && obj.forwardTo.length > 0) {
          for (const value of obj.forwardTo) {
            w.uint32(34)
            w.bytes(value)
          }
        }

        if (obj.missed != null) {
          w.uint32(40)
          w.bool(obj.missed)
        }

        if (obj.note != null) {
          w.uint32(50)
          w.bytes(obj.note)
        }

        if (obj.auth != null) {
          w.uint32(58)
          RoomAuth.codec().encode(obj.auth, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          forwardTo: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.record = reader.bytes()
              break
            }
            case 2: {
              obj.heartbeat = Heartbeat.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.heartbeat
              })
              break
            }
            case 3: {
              obj.message = reader.bytes()
              break
            }
            case 4: {
              if (opts.limits?.forwardTo != null && obj.forwardTo.length === opts.limits.forwardTo) {
                throw new MaxLengthError('Decode error - repeated field "forwardTo" had too many elements')
              }

              obj.forwardTo.push(reader.bytes())
              break
            }
            case 5: {
              obj.missed = reader.bool()
              break
            }
            case 6: {
              obj.note = reader.bytes()
              break
            }
            case 7: {
              obj.auth = RoomAuth.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.auth
              })
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
          forwardTo: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.record`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield * Heartbeat.codec().stream(reader, reader.uint32(), `${prefix}.heartbeat`, {
                limits: opts.limits?.heartbeat
              })

              break
            }
            case 3: {
              yield {
                field: `${prefix}.message`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              if (opts.limits?.forwardTo != null && obj.forwardTo === opts.limits.forwardTo) {
                throw new MaxLengthError('Streaming decode error - repeated field "forwardTo" had too many elements')
              }

              yield {
                field: `${prefix}.forwardTo[]`,
                index: obj.forwardTo,
                value: reader.bytes()
              }

              obj.forwardTo++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.missed`,
                value: reader.bool()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.note`,
                value: reader.bytes()
              }
              break
            }
            case 7: {
              yield * RoomAuth.codec().stream(reader, reader.uint32(), `${prefix}.auth`, {
                limits: opts.limits?.auth
              })

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

  export interface MeshMessageRecordFieldEvent {
    field: '$.record'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MeshMessageHeartbeatSeqFieldEvent {
    field: '$.heartbeat.seq'
    value: bigint
  }

  export interface MeshMessageHeartbeatAckFieldEvent {
    field: '$.heartbeat.ack'
    value: bigint
  }

  export interface MeshMessageHeartbeatAckDelayFieldEvent {
    field: '$.heartbeat.ackDelay'
    value: number
  }

  export interface MeshMessageHeartbeatEpochFieldEvent {
    field: '$.heartbeat.epoch'
    value: bigint
  }

  export interface MeshMessageHeartbeatSentFieldEvent {
    field: '$.heartbeat.sent'
    value: bigint
  }

  export interface MeshMessageHeartbeatHeldFieldEvent {
    field: '$.heartbeat.held'
    value: number
  }

  export interface MeshMessageHeartbeatWrittenFieldEvent {
    field: '$.heartbeat.written'
    value: bigint
  }

  export interface MeshMessageMessageFieldEvent {
    field: '$.message'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MeshMessageForwardToFieldEvent {
    field: '$.forwardTo[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface MeshMessageMissedFieldEvent {
    field: '$.missed'
    value: boolean
  }

  export interface MeshMessageNoteFieldEvent {
    field: '$.note'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MeshMessageAuthRoomFieldEvent {
    field: '$.auth.room'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MeshMessageAuthProofFieldEvent {
    field: '$.auth.proof'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<MeshMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, MeshMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MeshMessage>): MeshMessage {
    return decodeMessage(buf, MeshMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MeshMessage>): Generator<MeshMessageRecordFieldEvent | MeshMessageHeartbeatSeqFieldEvent | MeshMessageHeartbeatAckFieldEvent | MeshMessageHeartbeatAckDelayFieldEvent | MeshMessageHeartbeatEpochFieldEvent | MeshMessageHeartbeatSentFieldEvent | MeshMessageHeartbeatHeldFieldEvent | MeshMessageHeartbeatWrittenFieldEvent | MeshMessageMessageFieldEvent | MeshMessageForwardToFieldEvent | MeshMessageMissedFieldEvent | MeshMessageNoteFieldEvent | MeshMessageAuthRoomFieldEvent | MeshMessageAuthProofFieldEvent> {
    return streamMessage(buf, MeshMessage.codec(), opts)
  }
}

export interface RoomAuth {
  room: Uint8Array<ArrayBuffer>
  proof: Uint8Array<ArrayBuffer>
}

export namespace RoomAuth {
  let _codec: Codec<RoomAuth>

  export const codec = (): Codec<RoomAuth> => {
    if (_codec == null) {
      _codec = message<RoomAuth>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.room != null && obj.room.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.room)
        }

        if ((obj.proof != null && obj.proof.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.proof)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          room: uint8ArrayAlloc(0),
          proof: uint8ArrayAlloc(0)
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
              obj.proof = reader.bytes()
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
                field: `${prefix}.proof`,
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

  export interface RoomAuthRoomFieldEvent {
    field: '$.room'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomAuthProofFieldEvent {
    field: '$.proof'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<RoomAuth>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RoomAuth.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomAuth>): RoomAuth {
    return decodeMessage(buf, RoomAuth.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomAuth>): Generator<RoomAuthRoomFieldEvent | RoomAuthProofFieldEvent> {
    return streamMessage(buf, RoomAuth.codec(), opts)
  }
}

export interface Heartbeat {
  seq: bigint
  ack: bigint
  ackDelay: number
  epoch: bigint
  sent: bigint
  held: number
  written: bigint
}

export namespace Heartbeat {
  let _codec: Codec<Heartbeat>

  export const codec = (): Codec<Heartbeat> => {
    if (_codec == null) {
      _codec = message<Heartbeat>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.seq != null && obj.seq !== 0n)) {
          w.uint32(8)
          w.uint64(obj.seq)
        }

        if ((obj.ack != null && obj.ack !== 0n)) {
          w.uint32(16)
          w.uint64(obj.ack)
        }

        if ((obj.ackDelay != null && obj.ackDelay !== 0)) {
          w.uint32(24)
          w.uint32(obj.ackDelay)
        }

        if ((obj.epoch != null && obj.epoch !== 0n)) {
          w.uint32(32)
          w.uint64(obj.epoch)
        }

        if ((obj.sent != null && obj.sent !== 0n)) {
          w.uint32(40)
          w.uint64(obj.sent)
        }

        if ((obj.held != null && obj.held !== 0)) {
          w.uint32(48)
          w.uint32(obj.held)
        }

        if ((obj.written != null && obj.written !== 0n)) {
          w.uint32(56)
          w.uint64(obj.written)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          seq: 0n,
          ack: 0n,
          ackDelay: 0,
          epoch: 0n,
          sent: 0n,
          held: 0,
          written: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.seq = reader.uint64()
              break
            }
            case 2: {
              obj.ack = reader.uint64()
              break
            }
            case 3: {
              obj.ackDelay = reader.uint32()
              break
            }
            case 4: {
              obj.epoch = reader.uint64()
              break
            }
            case 5: {
              obj.sent = reader.uint64()
              break
            }
            case 6: {
              obj.held = reader.uint32()
              break
            }
            case 7: {
              obj.written = reader.uint64()
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
                field: `${prefix}.seq`,
                value: reader.uint64()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.ack`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.ackDelay`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.sent`,
                value: reader.uint64()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.held`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.written`,
                value: reader.uint64()
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

  export interface HeartbeatSeqFieldEvent {
    field: '$.seq'
    value: bigint
  }

  export interface HeartbeatAckFieldEvent {
    field: '$.ack'
    value: bigint
  }

  export interface HeartbeatAckDelayFieldEvent {
    field: '$.ackDelay'
    value: number
  }

  export interface HeartbeatEpochFieldEvent {
    field: '$.epoch'
    value: bigint
  }

  export interface HeartbeatSentFieldEvent {
    field: '$.sent'
    value: bigint
  }

  export interface HeartbeatHeldFieldEvent {
    field: '$.held'
    value: number
  }

  export interface HeartbeatWrittenFieldEvent {
    field: '$.written'
    value: bigint
  }

  export function encode (obj: Partial<Heartbeat>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Heartbeat.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Heartbeat>): Heartbeat {
    return decodeMessage(buf, Heartbeat.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Heartbeat>): Generator<HeartbeatSeqFieldEvent | HeartbeatAckFieldEvent | HeartbeatAckDelayFieldEvent | HeartbeatEpochFieldEvent | HeartbeatSentFieldEvent | HeartbeatHeldFieldEvent | HeartbeatWrittenFieldEvent> {
    return streamMessage(buf, Heartbeat.codec(), opts)
  }
}
