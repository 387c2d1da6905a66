import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface RelayInfo {
  iceServers: IceServer[]
}

export namespace RelayInfo {
  let _codec: Codec<RelayInfo>

  export const codec = (): Codec<RelayInfo> => {
    if (_codec == null) {
      _codec = message<RelayInfo>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.iceServers != null && obj.iceServers.length > 0) {
          for (const value of obj.iceServers) {
            w.uint32(10)
            IceServer.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          iceServers: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.iceServers != null && obj.iceServers.length === opts.limits.iceServers) {
                throw new MaxLengthError('Decode error - repeated field "iceServers" had too many elements')
              }

              obj.iceServers.push(IceServer.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.iceServers$
              }))
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
          iceServers: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.iceServers != null && obj.iceServers === opts.limits.iceServers) {
                throw new MaxLengthError('Streaming decode error - repeated field "iceServers" had too many elements')
              }

              for (const evt of IceServer.codec().stream(reader, reader.uint32(), `${prefix}.iceServers[]`, {
                limits: opts.limits?.iceServers$
              })) {
                yield {
                  ...evt,
                  index: obj.iceServers
                }
              }

              obj.iceServers++

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

  export interface RelayInfoIceServersUrlsFieldEvent {
    field: '$.iceServers[].urls[]'
    index: number
    value: string
  }

  export interface RelayInfoIceServersUsernameFieldEvent {
    field: '$.iceServers[].username'
    value: string
    index: number
  }

  export interface RelayInfoIceServersCredentialFieldEvent {
    field: '$.iceServers[].credential'
    value: string
    index: number
  }

  export function encode (obj: Partial<RelayInfo>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RelayInfo.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RelayInfo>): RelayInfo {
    return decodeMessage(buf, RelayInfo.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RelayInfo>): Generator<RelayInfoIceServersUrlsFieldEvent | RelayInfoIceServersUsernameFieldEvent | RelayInfoIceServersCredentialFieldEvent> {
    return streamMessage(buf, RelayInfo.codec(), opts)
  }
}

export interface IceServer {
  urls: string[]
  username?: string
  credential?: string
}

export namespace IceServer {
  let _codec: Codec<IceServer>

  export const codec = (): Codec<IceServer> => {
    if (_codec == null) {
      _codec = message<IceServer>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.urls != null && obj.urls.length > 0) {
          for (const value of obj.urls) {
            w.uint32(10)
            w.string(value)
          }
        }

        if (obj.username != null) {
          w.uint32(18)
          w.string(obj.username)
        }

        if (obj.credential != null) {
          w.uint32(26)
          w.string(obj.credential)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          urls: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.urls != null && obj.urls.length === opts.limits.urls) {
                throw new MaxLengthError('Decode error - repeated field "urls" had too many elements')
              }

              obj.urls.push(reader.string())
              break
            }
            case 2: {
              obj.username = reader.string()
              break
            }
            case 3: {
              obj.credential = reader.string()
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
          urls: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.urls != null && obj.urls === opts.limits.urls) {
                throw new MaxLengthError('Streaming decode error - repeated field "urls" had too many elements')
              }

              yield {
                field: `${prefix}.urls[]`,
                index: obj.urls,
                value: reader.string()
              }

              obj.urls++

              break
            }
            case 2: {
              yield {
                field: `${prefix}.username`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.credential`,
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

  export interface IceServerUrlsFieldEvent {
    field: '$.urls[]'
    index: number
    value: string
  }

  export interface IceServerUsernameFieldEvent {
    field: '$.username'
    value: string
  }

  export interface IceServerCredentialFieldEvent {
    field: '$.credential'
    value: string
  }

  export function encode (obj: Partial<IceServer>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, IceServer.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<IceServer>): IceServer {
    return decodeMessage(buf, IceServer.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<IceServer>): Generator<IceServerUrlsFieldEvent | IceServerUsernameFieldEvent | IceServerCredentialFieldEvent> {
    return streamMessage(buf, IceServer.codec(), opts)
  }
}
