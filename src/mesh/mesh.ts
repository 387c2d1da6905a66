import { InvalidMessageError, InvalidParametersError, serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { Queue } from '@libp2p/utils'
import { TypedEventEmitter } from 'main-event'
import { CID } from 'multiformats/cid'
import { Verifier } from '../envelope/keys.ts'
import { openMemberRecord } from '../envelope/record.ts'
import { MAX_STREAMS_PER_CONNECTION, PROTOCOL_NAME, PROTOCOL_VERSION, REPLAY_PROTOCOL_NAME, REPLAY_PROTOCOL_VERSION, MAX_REMEMBERED_ROOMS, maxFrameSize, resolveMeshInit } from './constants.ts'
import { DialTimes } from './dial-times.ts'
import { RoomClosedError, RoomNotJoinedError } from './errors.ts'
import { PAYLOAD_PROTOCOL_NAME, PAYLOAD_PROTOCOL_VERSION } from './payloads/constants.ts'
import { answerPayloadRequest } from './payloads/serve.ts'
import { RelayGate } from './relay-gate.ts'
import { answerReplay } from './replay/answer.ts'
import { roomCid, roomId } from './room-cid.ts'
import { RoomSecret } from './room-secret.ts'
import { REJECTIONS, RoomImpl } from './room.ts'
import { Session } from './session.ts'
import type { ResolvedMeshInit } from './constants.ts'
import type { JoinOptions, Mesh, MeshComponents, MeshEvents, MeshInit, RejectedMessage, Room } from './index.ts'
import type { Messaging, Numbering } from './messages/messaging.ts'
import type { MemberRecord } from '../envelope/record.ts'
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'

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
      answerReplay(stream, connection.remotePeer, (tag, asker) => this.replaySource(tag, asker), this.init)
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

    if (options.secret === null || (options.secret == null && name.startsWith('private/'))) {
      // records name a private room `private/<cid>`: no open room may
      throw new InvalidParametersError(options.secret === null ? 'a room secret is a non-empty string or Uint8Array' : 'an open room\'s name may not start with "private/"')
    }

    const roster = options.roster?.map(peer => typeof peer === 'string' ? peerIdFromString(peer) : peer)
    const secret = options.secret == null ? undefined : await RoomSecret.derive(name, options.secret, roster)

    if (!this.started) {
      // stopped while the secret's keys were derived
      throw new InvalidParametersError('the node is not started')
    }

    // a private room is another room than the open one of its name
    const tag = secret?.tag ?? name
    const existing = this.joined.get(tag)
    const pending = this.joining.get(tag)

    if (existing != null || pending != null) {
      return existing ?? await pending!
    }

    const joining = this.createRoom(name, tag, roster, secret, options)
    this.joining.set(tag, joining)

    try {
      const room = await joining

      if (!this.started) {
        // stopped while it started: nothing may outlive stop()
        await room.close()
        throw new RoomClosedError(`the node stopped while room "${name}" was joined`)
      }

      this.joined.set(tag, room)
      return room
    } finally {
      this.joining.delete(tag)
    }
  }

  private async createRoom (name: string, tag: string, roster: PeerId[] | undefined, secret: RoomSecret | undefined, options: JoinOptions): Promise<RoomImpl> {
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
      numbering: this.numbering.get(tag),
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
        if (this.joined.get(room.tag) === room) {
          this.joined.delete(room.tag)
        }

        this.remember(room.tag, room.messaging.numbering)
      }
    }, {
      name,
      cid: secret?.cid ?? await roomCid(name),
      id: secret?.id ?? await roomId(name, roster),
      secret,
      roster,
      threshold: options.threshold ?? (roster == null ? undefined : roster.length)
    })

    await room.start()
    this.log('joined room "%s" (%c)', name, room.cid)

    return room
  }

  /**
   * A member opened a room stream: its first message must be its own signed
   * record, for an open room we are in, or for a private room the room's CID
   * and a proof of its secret (see `RoomSecret`; the record follows once
   * we answered with our proof).
   */
  private async onStream (stream: Stream, connection: Connection): Promise<void> {
    const session = new Session(stream, connection, false, maxFrameSize(this.init))
    const signal = AbortSignal.timeout(this.init.dialTimeout)
    let room: RoomImpl | undefined
    let record: MemberRecord | undefined

    try {
      const message = await session.read({ signal })

      if (message.auth != null) {
        room = await this.privateRoom(message.auth.room, message.auth.proof, connection)
      } else if (message.record == null) {
        throw new InvalidMessageError('a room stream must start with the sender\'s record, or a private room\'s proof')
      } else {
        record = await openMemberRecord(message.record, {
          signer: connection.remotePeer,
          maxAge: this.init.maxRecordAge
        })
        room = this.joined.get(record.room)

        if (room == null || room.secret != null) {
          // a private room is named by proof only: to a peer without its
          // secret it is as if we were not in it
          room = undefined
          throw new RoomNotJoinedError(`not in room "${record.room}"`)
        }
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
   * The room a replay request names: a private one only to a member with a
   * session in it; to anyone else it is as if we were not in it (the refusal
   * would otherwise tell the room's name, from its roster check).
   */
  private replaySource (tag: string, asker: PeerId): Messaging | undefined {
    const room = this.joined.get(tag)

    if (room?.secret != null && room.getMember(asker)?.session?.open !== true) {
      return undefined
    }

    return room?.messaging
  }

  /**
   * The private room a room stream's first frame names by CID, its proof
   * checked.
   *
   * @throws {RoomNotJoinedError | WrongSecretError | InvalidMessageError}
   */
  private async privateRoom (cidBytes: Uint8Array, proof: Uint8Array, connection: Connection): Promise<RoomImpl> {
    let cid: CID

    try {
      cid = CID.decode(cidBytes)
    } catch (err: any) {
      throw new InvalidMessageError(`a private room's proof names no CID: ${err.message}`)
    }

    const room = this.joined.get(`private/${cid.toString()}`)

    if (room?.secret == null) {
      throw new RoomNotJoinedError(`not in private room ${cid}`)
    }

    await room.secret.check(proof, 'opener', connection.remotePeer, this.components.peerId)
    return room
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
