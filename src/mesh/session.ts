import { InvalidMessageError } from '@libp2p/interface'
import { Frames } from './frames.ts'
import { MeshMessage } from './pb/mesh.ts'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'

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
  /** the seq of our last own message written to this stream, or dropped from its full queue (heartbeats tell it) */
  written = 0
  private readonly frames: Frames

  constructor (stream: Stream, connection: Connection, initiator: boolean, maxFrameSize: number) {
    this.stream = stream
    this.connection = connection
    this.initiator = initiator
    this.direct = isDirect(connection)
    this.frames = new Frames(stream, maxFrameSize)
  }

  /** the stream and its connection are open, and we have not closed our end */
  get open (): boolean {
    return this.stream.status === 'open' && this.stream.writeStatus === 'writable' && this.connection.status === 'open'
  }

  /**
   * Reads the next message.
   *
   * @throws {MessageTooLargeError | InvalidMessageError} when the message is
   * refused; the stream's error when it ends
   */
  async read (options?: AbortOptions): Promise<MeshMessage> {
    const bytes = await this.frames.read(options)

    try {
      return MeshMessage.decode(bytes)
    } catch (err: any) {
      throw new InvalidMessageError(`malformed room message: ${err.message}`)
    }
  }

  async send (message: Partial<MeshMessage>, options?: AbortOptions): Promise<void> {
    await this.frames.write([MeshMessage.encode(message)], options)
  }

  /** sends `messages` in one write */
  async sendMany (messages: Array<Partial<MeshMessage>>, options?: AbortOptions): Promise<void> {
    await this.frames.write(messages.map(message => MeshMessage.encode(message)), options)
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
