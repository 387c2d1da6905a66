/**
 * The message plane of a room: sending, receiving, the log, the store and
 * replay. It sees its room through `MessagingRoom` only.
 *
 * @packageDocumentation
 */

import type { RoomCipher } from '../../envelope/cipher.ts'
import type { Verifier } from '../../envelope/keys.ts'
import type { ResolvedMeshInit } from '../constants.ts'
import type { IncomingPayload, MeshComponents, RoomEvents } from '../index.ts'
import type { Member } from '../member.ts'
import type { Numbering } from './messaging.ts'
import type { Logger, PeerId, TypedEventTarget } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * What the message plane needs of its room: its identity and settings, its
 * members (with their streams and queues), and where to report. The room
 * (`RoomImpl`) is one.
 */
export interface MessagingRoom extends Pick<TypedEventTarget<RoomEvents>, 'safeDispatchEvent'> {
  readonly name: string
  readonly cid: CID
  /** what its message batches are signed for (see `roomId`) */
  readonly id: Uint8Array
  /** how records and replay requests name the room: its name, or `private/<cid>` for a private room */
  readonly tag: string
  /** a private room's: encrypts what messages and notes carry */
  readonly cipher?: RoomCipher
  readonly log: Logger
  readonly isClosed: boolean
  /** aborts when the room is left */
  readonly signal: AbortSignal
  readonly ctx: {
    components: Pick<MeshComponents, 'peerId' | 'privateKey' | 'datastore'>
    init: ResolvedMeshInit
    verifier: Verifier
    /** where this node's numbering stopped when it last left the room */
    numbering?: Numbering
    replayProtocol: string
  }
  /** the known members */
  all(): Member[]
  getMember(peerId: PeerId): Member | undefined
  /** the peers a roster room is limited to */
  readonly roster?: PeerId[]
  /** whether a peer may be in the room (its roster, if any) */
  allows(peerId: PeerId): boolean
  /**
   * @throws {NotOnRosterError}
   */
  checkRoster(peerId: PeerId): void
  /** a member's route or state changed: tells the app */
  updated(member: Member): void
  /** reports `err` against `peerId` when it refuses a message; says whether it did */
  reportIfRejected(peerId: PeerId, err: Error): boolean
  /** checks the manifests of large payloads, and makes what the app reads them with */
  readonly payloads: {
    /**
     * @throws {InvalidMessageError | MessageTooLargeError}
     */
    check(data: Uint8Array): unknown
    incoming(sender: PeerId, data: Uint8Array): IncomingPayload
  }
}
