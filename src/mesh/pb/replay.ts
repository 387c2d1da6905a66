import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface ReplayFrame {
  request?: Uint8Array<ArrayBuffer>
  held: Held[]
  heldEnd: boolean
  wants: Want[]
  wantsEnd: boolean
  messages: Uint8Array<ArrayBuffer>[]
  end: boolean
  truncated: boolean
  refused?: string
}

export namespace ReplayFrame {
  let _codec: Codec<ReplayFrame>

  export const codec = (): Codec<ReplayFrame> => {
    if (_codec == null) {
      _codec = message<ReplayFrame>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.request != null) {
          w.uint32(10)
          w.bytes(obj.request)
        }

        if (obj.held != null && obj.held.length > 0) {
          for (const value of obj.held) {
            w.uint32(18)
            Held.codec().encode(value, w)
          }
        }

        if ((obj.heldEnd != null && obj.heldEnd !== false)) {
          w.uint32(24)
          w.bool(obj.heldEnd)
        }

        if (obj.wants != null && obj.wants.length > 0) {
          for (const value of obj.wants) {
            w.uint32(34)
            Want.codec().encode(value, w)
          }
        }

        if ((obj.wantsEnd != null && obj.wantsEnd !== false)) {
          w.uint32(40)
          w.bool(obj.wantsEnd)
        }

        if (obj.messages != null && obj.messages.length > 0) {
          for (const value of obj.messages) {
            w.uint32(50)
            w.bytes(value)
          }
        }

        if ((obj.end != null && obj.end !== false)) {
          w.uint32(56)
          w.bool(obj.end)
        }

        if ((obj.truncated != null && obj.truncated !== false)) {
          w.uint32(64)
          w.bool(obj.truncated)
        }

        if (obj.refused != null) {
          w.uint32(74)
          w.string(obj.refused)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          held: [],
          heldEnd: false,
          wants: [],
          wantsEnd: false,
          messages: [],
          end: false,
          truncated: false
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
              if (opts.limits?.held != null && obj.held.length === opts.limits.held) {
                throw new MaxLengthError('Decode error - repeated field "held" had too many elements')
              }

              obj.held.push(Held.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.held$
              }))
              break
            }
            case 3: {
              obj.heldEnd = reader.bool()
              break
            }
            case 4: {
              if (opts.limits?.wants != null && obj.wants.length === opts.limits.wants) {
                throw new MaxLengthError('Decode error - repeated field "wants" had too many elements')
              }

              obj.wants.push(Want.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.wants$
              }))
              break
            }
            case 5: {
              obj.wantsEnd = reader.bool()
              break
            }
            case 6: {
              if (opts.limits?.messages != null && obj.messages.length === opts.limits.messages) {
                throw new MaxLengthError('Decode error - repeated field "messages" had too many elements')
              }

              obj.messages.push(reader.bytes())
              break
            }
            case 7: {
              obj.end = reader.bool()
              break
            }
            case 8: {
              obj.truncated = reader.bool()
              break
            }
            case 9: {
              obj.refused = reader.string()
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
          held: 0,
          wants: 0,
          messages: 0
        }

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
            case 3: {
              yield {
                field: `${prefix}.heldEnd`,
                value: reader.bool()
              }
              break
            }
            case 4: {
              if (opts.limits?.wants != null && obj.wants === opts.limits.wants) {
                throw new MaxLengthError('Streaming decode error - repeated field "wants" had too many elements')
              }

              for (const evt of Want.codec().stream(reader, reader.uint32(), `${prefix}.wants[]`, {
                limits: opts.limits?.wants$
              })) {
                yield {
                  ...evt,
                  index: obj.wants
                }
              }

              obj.wants++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.wantsEnd`,
                value: reader.bool()
              }
              break
            }
            case 6: {
              if (opts.limits?.messages != null && obj.messages === opts.limits.messages) {
                throw new MaxLengthError('Streaming decode error - repeated field "messages" had too many elements')
              }

              yield {
                field: `${prefix}.messages[]`,
                index: obj.messages,
                value: reader.bytes()
              }

              obj.messages++

              break
            }
            case 7: {
              yield {
                field: `${prefix}.end`,
                value: reader.bool()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.truncated`,
                value: reader.bool()
              }
              break
            }
            case 9: {
              yield {
                field: `${prefix}.refused`,
                value: reader.string()
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

  export interface ReplayFrameRequestFieldEvent {
    field: '$.request'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ReplayFrameHeldSenderFieldEvent {
    field: '$.held[].sender'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ReplayFrameHeldEpochFieldEvent {
    field: '$.held[].epoch'
    value: bigint
    index: number
  }

  export interface ReplayFrameHeldLowestFieldEvent {
    field: '$.held[].lowest'
    value: bigint
    index: number
  }

  export interface ReplayFrameHeldHighestFieldEvent {
    field: '$.held[].highest'
    value: bigint
    index: number
  }

  export interface ReplayFrameHeldEndFieldEvent {
    field: '$.heldEnd'
    value: boolean
  }

  export interface ReplayFrameWantsSenderFieldEvent {
    field: '$.wants[].sender'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ReplayFrameWantsEpochFieldEvent {
    field: '$.wants[].epoch'
    value: bigint
    index: number
  }

  export interface ReplayFrameWantsAfterFieldEvent {
    field: '$.wants[].after'
    value: bigint
    index: number
  }

  export interface ReplayFrameWantsUpToFieldEvent {
    field: '$.wants[].upTo'
    value: bigint
    index: number
  }

  export interface ReplayFrameWantsEndFieldEvent {
    field: '$.wantsEnd'
    value: boolean
  }

  export interface ReplayFrameMessagesFieldEvent {
    field: '$.messages[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ReplayFrameEndFieldEvent {
    field: '$.end'
    value: boolean
  }

  export interface ReplayFrameTruncatedFieldEvent {
    field: '$.truncated'
    value: boolean
  }

  export interface ReplayFrameRefusedFieldEvent {
    field: '$.refused'
    value: string
  }

  export function encode (obj: Partial<ReplayFrame>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, ReplayFrame.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ReplayFrame>): ReplayFrame {
    return decodeMessage(buf, ReplayFrame.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<ReplayFrame>): Generator<ReplayFrameRequestFieldEvent | ReplayFrameHeldSenderFieldEvent | ReplayFrameHeldEpochFieldEvent | ReplayFrameHeldLowestFieldEvent | ReplayFrameHeldHighestFieldEvent | ReplayFrameHeldEndFieldEvent | ReplayFrameWantsSenderFieldEvent | ReplayFrameWantsEpochFieldEvent | ReplayFrameWantsAfterFieldEvent | ReplayFrameWantsUpToFieldEvent | ReplayFrameWantsEndFieldEvent | ReplayFrameMessagesFieldEvent | ReplayFrameEndFieldEvent | ReplayFrameTruncatedFieldEvent | ReplayFrameRefusedFieldEvent> {
    return streamMessage(buf, ReplayFrame.codec(), opts)
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

export interface Want {
  sender: Uint8Array<ArrayBuffer>
  epoch: bigint
  after: bigint
  upTo: bigint
}

export namespace Want {
  let _codec: Codec<Want>

  export const codec = (): Codec<Want> => {
    if (_codec == null) {
      _codec = message<Want>((obj, w, opts = {}) => {
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

        if ((obj.after != null && obj.after !== 0n)) {
          w.uint32(24)
          w.uint64(obj.after)
        }

        if ((obj.upTo != null && obj.upTo !== 0n)) {
          w.uint32(32)
          w.uint64(obj.upTo)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          sender: uint8ArrayAlloc(0),
          epoch: 0n,
          after: 0n,
          upTo: 0n
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
              obj.after = reader.uint64()
              break
            }
            case 4: {
              obj.upTo = reader.uint64()
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
                field: `${prefix}.after`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.upTo`,
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

  export interface WantSenderFieldEvent {
    field: '$.sender'
    value: Uint8Array<ArrayBuffer>
  }

  export interface WantEpochFieldEvent {
    field: '$.epoch'
    value: bigint
  }

  export interface WantAfterFieldEvent {
    field: '$.after'
    value: bigint
  }

  export interface WantUpToFieldEvent {
    field: '$.upTo'
    value: bigint
  }

  export function encode (obj: Partial<Want>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Want.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Want>): Want {
    return decodeMessage(buf, Want.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Want>): Generator<WantSenderFieldEvent | WantEpochFieldEvent | WantAfterFieldEvent | WantUpToFieldEvent> {
    return streamMessage(buf, Want.codec(), opts)
  }
}
