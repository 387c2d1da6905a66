import { InvalidMessageError } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { MessageTooLargeError } from '../envelope/errors.ts'
import { MeshMessage } from './pb/mesh.ts'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'

/**
 * Whether a connection is direct: not through a relay, without relay limits.
 */
export function isDirect (connection: Connection): boolean {
  return connection.direct && connection.limits == null
}

/**
 * One room stream with one member: length-prefixed `MeshMessage`s both ways.
 */
export class Session {
  readonly stream: Stream
  readonly connection: Connection
  /** we opened the stream */
  readonly initiator: boolean
  readonly direct: boolean
  heartbeatSeq = 0n
  /** the seq of our last own message written to this stream (heartbeats tell it) */
  written = 0
  private readonly lp: LengthPrefixedStream<Stream>
  private readonly maxFrameSize: number

  constructor (stream: Stream, connection: Connection, initiator: boolean, maxFrameSize: number) {
    this.stream = stream
    this.connection = connection
    this.initiator = initiator
    this.direct = isDirect(connection)
    this.maxFrameSize = maxFrameSize
    this.lp = lpStream(stream, { maxDataLength: maxFrameSize })
  }

  get open (): boolean {
    return this.stream.status === 'open' && this.connection.status === 'open'
  }

  /**
   * Reads the next message.
   *
   * @throws {MessageTooLargeError | InvalidMessageError} when the message is
   * refused; the stream's error when it ends
   */
  async read (options?: AbortOptions): Promise<MeshMessage> {
    let bytes
    try {
      bytes = await this.lp.read(options)
    } catch (err: any) {
      if (err.name === 'InvalidDataLengthError') {
        throw new MessageTooLargeError(`frame larger than ${this.maxFrameSize} bytes`)
      }

      if (err.name === 'InvalidDataLengthLengthError') {
        throw new InvalidMessageError('malformed length prefix')
      }

      throw err
    }

    try {
      return MeshMessage.decode(bytes)
    } catch (err: any) {
      throw new InvalidMessageError(`malformed room message: ${err.message}`)
    }
  }

  async send (message: Partial<MeshMessage>, options?: AbortOptions): Promise<void> {
    await this.lp.write(MeshMessage.encode(message), options)
  }

  /** sends without waiting; a failed write aborts the stream */
  post (message: Partial<MeshMessage>): void {
    this.send(message).catch(err => {
      this.abort(err)
    })
  }

  async close (options?: AbortOptions): Promise<void> {
    try {
      await this.stream.close(options)
    } catch (err: any) {
      this.abort(err)
    }
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }
}
