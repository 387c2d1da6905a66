import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface ReplayResponse {
  held: Held[]
  message?: Uint8Array<ArrayBuffer>
  end: boolean
}

export namespace ReplayResponse {
  let _codec: Codec<ReplayResponse>

  export const codec = (): Codec<ReplayResponse> => {
    if (_codec == null) {
      _codec = message<ReplayResponse>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.held != null && obj.held.length > 0) {
          for (const value of obj.held) {
            w.uint32(10)
            Held.codec().encode(value, w)
          }
        }

        if (obj.message != null) {
          w.uint32(18)
          w.bytes(obj.message)
        }

        if ((obj.end != null && obj.end !== false)) {
          w.uint32(24)
          w.bool(obj.end)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          held: [],
          end: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.held != null && obj.held.length === opts.limits.held) {
                throw new MaxLengthError('Decode error - repeated field "held" had too many elements')
              }

              obj.held.push(Held.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.held$
              }))
              break
            }
            case 2: {
              obj.message = reader.bytes()
              break
            }
            case 3: {
              obj.end = reader.bool()
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
          held: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.held != null && obj.held === opts.limits.held) {
                throw new MaxLengthError('Streaming decode error - repeated field "held" had too many elements')
              }

              for (const evt of Held.codec().stream(reader, reader.uint32(), `${prefix}.held[]`, {
                limits: opts.limits?.held$
              })) {
                yield {
                  ...evt,
                  index: obj.held
                }
              }

              obj.held++

              break
            }
            case 2: {
              yield {
                field: `${prefix}.message`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.end`,
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

  export interface ReplayResponseHeldSenderFieldEvent {
    field: '$.held[].sender'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ReplayResponseHeldEpochFieldEvent {
    field: '$.held[].epoch'
    value: bigint
    index: number
  }

  export interface ReplayResponseHeldLowestFieldEvent {
    field: '$.held[].lowest'
    value: bigint
    index: number
  }

  export interface ReplayResponseHeldHighestFieldEvent {
    field: '$.held[].highest'
    value: bigint
    index: number
  }

  export interface ReplayResponseMessageFieldEvent {
    field: '$.message'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ReplayResponseEndFieldEvent {
    field: '$.end'
    value: boolean
  }

  export function encode (obj: Partial<ReplayResponse>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ReplayResponse.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ReplayResponse>): ReplayResponse {
    return decodeMessage(buf, ReplayResponse.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ReplayResponse>): Generator<ReplayResponseHeldSenderFieldEvent | ReplayResponseHeldEpochFieldEvent | ReplayResponseHeldLowestFieldEvent | ReplayResponseHeldHighestFieldEvent | ReplayResponseMessageFieldEvent | ReplayResponseEndFieldEvent> {
    return streamMessage(buf, ReplayResponse.codec(), opts)
  }
}

export interface Held {
  sender: Uint8Array<ArrayBuffer>
  epoch: bigint
  lowest: bigint
  highest: bigint
}

export namespace Held {
  let _codec: Codec<Held>

  export const codec = (): Codec<Held> => {
    if (_codec == null) {
      _codec = message<Held>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.sender != null && obj.sender.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.sender)
        }

        if ((obj.epoch != null && obj.epoch !== 0n)) {
          w.uint32(16)
          w.uint64(obj.epoch)
        }

        if ((obj.lowest != null && obj.lowest !== 0n)) {
          w.uint32(24)
          w.uint64(obj.lowest)
        }

        if ((obj.highest != null && obj.highest !== 0n)) {
          w.uint32(32)
          w.uint64(obj.highest)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          sender: uint8ArrayAlloc(0),
          epoch: 0n,
          lowest: 0n,
          highest: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.sender = reader.bytes()
              break
            }
            case 2: {
              obj.epoch = reader.uint64()
              break
            }
            case 3: {
              obj.lowest = reader.uint64()
              break
            }
            case 4: {
              obj.highest = reader.uint64()
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
                field: `${prefix}.sender`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.epoch`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.lowest`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.highest`,
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

  export interface HeldSenderFieldEvent {
    field: '$.sender'
    value: Uint8Array<ArrayBuffer>
  }

  export interface HeldEpochFieldEvent {
    field: '$.epoch'
    value: bigint
  }

  export interface HeldLowestFieldEvent {
    field: '$.lowest'
    value: bigint
  }

  export interface HeldHighestFieldEvent {
    field: '$.highest'
    value: bigint
  }

  export function encode (obj: Partial<Held>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Held.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Held>): Held {
    return decodeMessage(buf, Held.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Held>): Generator<HeldSenderFieldEvent | HeldEpochFieldEvent | HeldLowestFieldEvent | HeldHighestFieldEvent> {
    return streamMessage(buf, Held.codec(), opts)
  }
}
