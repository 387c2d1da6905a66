/**
 * The replay protocol: a member asks another member it has a session with
 * for the messages it lacks, in pages, within a budget (see
 * `pb/replay.proto`). `requestReplay` is the asking side, `answerReplay` the
 * answering side; both see the room's messages through the small interfaces
 * here, not through the room.
 */
import type { ReplayGuard } from './guard.ts'
import type { SignedRoomBatch } from '../../envelope/batch.ts'
import type { HeldRange } from '../messages/log.ts'
import type { Connection, PeerId, PrivateKey } from '@libp2p/interface'

/**
 * Messages of one sender's epoch a requester wants: those after `after`,
 * up to `upTo`.
 */
export interface Want {
  sender: PeerId
  epoch: number
  after: number
  upTo: number
}

/**
 * A member a replay is asked of.
 */
export interface ReplayPeer {
  peerId: PeerId
  connection: Connection
}

/**
 * What both sides of a replay need to know of the room.
 */
export interface ReplayContext {
  room: string
  /** the replay protocol id */
  protocol: string
  privateKey: PrivateKey
  /** aborts when the room is left */
  signal: AbortSignal
  init: {
    maxMessageSize: number
    maxLogMessages: number
    replayTimeout: number
  }
  /** most held ranges a responder may list */
  maxHeldRanges: number
}

/**
 * The asking side's view of the room's messages.
 */
export interface ReplayLog {
  context: ReplayContext
  /** what to ask for, given what the responder holds */
  wants(held: HeldRange[]): Want[]
  /** a batch from a replay by `from`: checked, then taken if any of it is new */
  receive(bytes: Uint8Array, signal: AbortSignal, from: PeerId): Promise<void>
  /** after a replay from `peerId` (cut short by its budget when `truncated`): what it did not hold may be gone */
  settle(peerId: PeerId, held: HeldRange[], truncated: boolean): void
}

/**
 * The answering side's view of the room's messages.
 */
export interface ReplaySource {
  context: ReplayContext
  guard: ReplayGuard
  /**
   * Checks that `peer` may ask: a member we have a session with.
   *
   * @throws {NotOnRosterError | ReplayRefusedError}
   */
  checkAsker(peer: PeerId): void
  /** what the log holds, less `except`'s own messages */
  held(except: PeerId): HeldRange[]
  /** the logged batches holding what `want` names, oldest first, their signatures checked */
  batches(want: Want, signal?: AbortSignal): Promise<SignedRoomBatch[]>
}

export { requestReplay } from './request.ts'
export { answerReplay } from './answer.ts'
export { ReplayGuard } from './guard.ts'
export type { ReplayResult } from './request.ts'
