import { InvalidMessageError, InvalidParametersError, serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { Queue } from '@libp2p/utils'
import { TypedEventEmitter } from 'main-event'
import { Verifier } from '../envelope/keys.ts'
import { openMemberRecord } from '../envelope/record.ts'
import { MAX_STREAMS_PER_CONNECTION, PROTOCOL_NAME, PROTOCOL_VERSION, REPLAY_PROTOCOL_NAME, REPLAY_PROTOCOL_VERSION, MAX_REMEMBERED_ROOMS, maxFrameSize, resolveMeshInit } from './constants.ts'
import { DialTimes } from './dial-times.ts'
import { RoomNotJoinedError } from './errors.ts'
import { PAYLOAD_PROTOCOL_NAME, PAYLOAD_PROTOCOL_VERSION } from './payloads/constants.ts'
import { answerPayloadRequest } from './payloads/serve.ts'
import { RelayGate } from './relay-gate.ts'
import { answerReplay } from './replay/answer.ts'
import { roomCid, roomId } from './room-cid.ts'
import { REJECTIONS, RoomImpl } from './room.ts'
import { Session } from './session.ts'
import type { ResolvedMeshInit } from './constants.ts'
import type { JoinOptions, Mesh, MeshComponents, MeshEvents, MeshInit, RejectedMessage, Room } from './index.ts'
import type { Numbering } from './messages/messaging.ts'
import type { MemberRecord } from '../envelope/record.ts'
import type { Connection, Logger, Startable, Stream } from '@libp2p/interface'

/**
 * The `mesh` service: the room protocol handler and the joined rooms.
 */
export class MeshService extends TypedEventEmitter<MeshEvents> implements Mesh, Startable {
  readonly [Symbol.toStringTag] = '@relaymesh/mesh'
  readonly [serviceCapabilities] = ['@relaymesh/mesh']
  readonly [serviceDependencies] = ['@libp2p/identify', '@libp2p/content-routing', '@relaymesh/relays']

  private readonly components: MeshComponents
  private readonly init: ResolvedMeshInit
  private readonly protocol: string
  /** checks room message batches of every room, keys imported once per peer */
  private readonly verifier = new Verifier()
  /** the numbering of rooms left, by name (see `remember`) */
  private readonly numbering = new Map<string, Numbering>()
  private readonly replayProtocol: string
  private readonly payloadProtocol: string
  private readonly log: Logger
  private readonly joined = new Map<string, RoomImpl>()
  private readonly joining = new Map<string, Promise<RoomImpl>>()
  private readonly webRTCDials: Queue<Connection | undefined>
  private readonly webRTCDialTimes = new DialTimes()
  private readonly relayGate: RelayGate
  private started = false

  constructor (components: MeshComponents, init: MeshInit = {}) {
    super()
    this.components = components
    this.relayGate = new RelayGate(components)
    this.init = resolveMeshInit(init)

    if (!Number.isInteger(this.init.maxParallelWebRTCDials) || this.init.maxParallelWebRTCDials < 1) {
      throw new InvalidParametersError('maxParallelWebRTCDials must be an integer of at least 1')
    }

    this.webRTCDials = new Queue({ concurrency: this.init.maxParallelWebRTCDials })
    this.protocol = `${this.init.protocolPrefix}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`
    this.replayProtocol = `${this.init.protocolPrefix}/${REPLAY_PROTOCOL_NAME}/${REPLAY_PROTOCOL_VERSION}`
    this.payloadProtocol = `${this.init.protocolPrefix}/${PAYLOAD_PROTOCOL_NAME}/${PAYLOAD_PROTOCOL_VERSION}`
    this.log = components.logger.forComponent('relaymesh:mesh')
  }

  get rooms (): Room[] {
    return [...this.joined.values()]
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, (stream: Stream, connection: Connection) => {
      this.onStream(stream, connection).catch(err => {
        // a stream that closed or reset before its first message was read
        this.log('room stream from %p ended early - %e', connection.remotePeer, err)
      })
    }, {
      runOnLimitedConnection: true,
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
    })
    await this.components.registrar.handle(this.replayProtocol, (stream: Stream, connection: Connection) => {
      answerReplay(stream, connection.remotePeer, name => this.joined.get(name)?.messaging, this.init)
        .then(answer => {
          this.log.trace('answered a replay of %p in room %s: %d messages, %d bytes%s', connection.remotePeer, answer.room, answer.messages, answer.bytes, answer.truncated ? ' (budget used up)' : '')
        }, (err: Error) => {
          if (REJECTIONS.has(err.name)) {
            this.reject({ remotePeer: connection.remotePeer, error: err })
          } else {
            this.log('answering a replay request from %p failed - %e', connection.remotePeer, err)
          }
        })
    }, {
      runOnLimitedConnection: true,
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
    })
    await this.components.registrar.handle(this.payloadProtocol, (stream: Stream, connection: Connection) => {
      answerPayloadRequest(stream, connection, { rooms: () => this.joined.values(), verifier: this.verifier, timeout: this.init.dialTimeout })
        .catch((err: Error) => {
          if (REJECTIONS.has(err.name)) {
            this.reject({ remotePeer: connection.remotePeer, error: err })
          } else {
            this.log('a payload stream of %p ended - %e', connection.remotePeer, err)
          }
        })
    }, {
      runOnLimitedConnection: true,
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
    })
    this.started = true
  }

  async stop (): Promise<void> {
    this.started = false
    await this.components.registrar.unhandle(this.protocol)
    await this.components.registrar.unhandle(this.replayProtocol)
    await this.components.registrar.unhandle(this.payloadProtocol)
    await Promise.allSettled([...this.joined.values()].map(async room => room.close()))
    this.joined.clear()
    this.joining.clear()
    this.webRTCDials.abort()
  }

  async join (name: string, options: JoinOptions = {}): Promise<Room> {
    if (!this.started) {
      throw new InvalidParametersError('the node is not started')
    }

    const existing = this.joined.get(name) ?? await this.joining.get(name)

    if (existing != null) {
      return existing
    }

    const joining = this.createRoom(name, options)
    this.joining.set(name, joining)

    try {
      const room = await joining
      this.joined.set(name, room)
      return room
    } finally {
      this.joining.delete(name)
    }
  }

  private async createRoom (name: string, options: JoinOptions): Promise<RoomImpl> {
    const roster = options.roster?.map(peer => typeof peer === 'string' ? peerIdFromString(peer) : peer)

    if (roster != null && !roster.some(peer => peer.equals(this.components.peerId))) {
      throw new InvalidParametersError('this node is not on the roster')
    }

    if (peerIdFromMultihash(this.components.peerId.toMultihash()).publicKey == null) {
      throw new InvalidParametersError('a room member needs a key its peer id holds (Ed25519 or secp256k1): the others check its signatures by its peer id')
    }

    if (options.threshold != null && (!Number.isInteger(options.threshold) || options.threshold < 1 || options.threshold > (roster?.length ?? Infinity))) {
      throw new InvalidParametersError('threshold must be an integer from 1 to the roster size')
    }

    const room = new RoomImpl({
      numbering: this.numbering.get(name),
      components: this.components,
      init: this.init,
      protocol: this.protocol,
      replayProtocol: this.replayProtocol,
      payloadProtocol: this.payloadProtocol,
      verifier: this.verifier,
      webRTCDials: this.webRTCDials,
      webRTCDialTimes: this.webRTCDialTimes,
      relayGate: this.relayGate,
      reject: (rejected) => { this.reject(rejected) },
      closed: (room) => {
        if (this.joined.get(room.name) === room) {
          this.joined.delete(room.name)
        }

        this.remember(room.name, room.messaging.numbering)
      }
    }, {
      name,
      cid: await roomCid(name),
      id: await roomId(name, roster),
      roster,
      threshold: options.threshold ?? (roster == null ? undefined : roster.length)
    })

    await room.start()
    this.log('joined room "%s" (%c)', name, room.cid)

    return room
  }

  /**
   * A member opened a room stream: its first message must be its own signed
   * record, for a room we are in.
   */
  private async onStream (stream: Stream, connection: Connection): Promise<void> {
    const session = new Session(stream, connection, false, maxFrameSize(this.init))
    const signal = AbortSignal.timeout(this.init.dialTimeout)
    let room: RoomImpl | undefined
    let record: MemberRecord

    try {
      const message = await session.read({ signal })

      if (message.record == null) {
        throw new InvalidMessageError('a room stream must start with the sender\'s record')
      }

      record = await openMemberRecord(message.record, {
        signer: connection.remotePeer,
        maxAge: this.init.maxRecordAge
      })
      room = this.joined.get(record.room)

      if (room == null) {
        throw new RoomNotJoinedError(`not in room "${record.room}"`)
      }
    } catch (err: any) {
      session.abort(err)

      if (REJECTIONS.has(err.name)) {
        this.reject({ remotePeer: connection.remotePeer, room: room?.name, error: err })
        return
      }

      throw err
    }

    try {
      // the reply has a timeout of its own, as the dialer's read has
      await room.links.handshake(session, AbortSignal.timeout(this.init.dialTimeout), record)
    } catch (err: any) {
      // reported by the handshake if it was a refusal
      this.log.trace('room stream from %p not taken - %e', connection.remotePeer, err)
    }
  }

  /**
   * A room that is left keeps its epoch and last seq here, so joining it
   * again goes on numbering where it stopped: a re-join is not a new epoch
   * for the other members to follow.
   */
  private remember (name: string, numbering: Numbering): void {
    this.numbering.delete(name)
    this.numbering.set(name, numbering)

    for (const oldest of this.numbering.keys()) {
      if (this.numbering.size <= MAX_REMEMBERED_ROOMS) {
        break
      }

      this.numbering.delete(oldest)
    }
  }

  private reject (rejected: RejectedMessage): void {
    this.log('rejected a message from %p in room %s - %e', rejected.remotePeer, rejected.room ?? '?', rejected.error)
    this.safeDispatchEvent('mesh:message-rejected', { detail: rejected })
  }
}
