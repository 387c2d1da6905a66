import { decodeMessage, encodeMessage, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface MeshMessage {
  record?: Uint8Array<ArrayBuffer>
  heartbeat?: Heartbeat
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

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {}

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

  export function encode (obj: Partial<MeshMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, MeshMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MeshMessage>): MeshMessage {
    return decodeMessage(buf, MeshMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MeshMessage>): Generator<MeshMessageRecordFieldEvent | MeshMessageHeartbeatSeqFieldEvent | MeshMessageHeartbeatAckFieldEvent | MeshMessageHeartbeatAckDelayFieldEvent> {
    return streamMessage(buf, MeshMessage.codec(), opts)
  }
}

export interface Heartbeat {
  seq: bigint
  ack: bigint
  ackDelay: number
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

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          seq: 0n,
          ack: 0n,
          ackDelay: 0
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

  export function encode (obj: Partial<Heartbeat>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Heartbeat.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Heartbeat>): Heartbeat {
    return decodeMessage(buf, Heartbeat.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Heartbeat>): Generator<HeartbeatSeqFieldEvent | HeartbeatAckFieldEvent | HeartbeatAckDelayFieldEvent> {
    return streamMessage(buf, Heartbeat.codec(), opts)
  }
}
