import { InvalidParametersError, TimeoutError } from '@libp2p/interface'
import { PeerMap } from '@libp2p/peer-collections'
import { RateLimiter } from '@libp2p/utils'
import { anySignal } from 'any-signal'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { RequestFailedError, RoomClosedError, UnknownMemberError } from '../errors.ts'
import { DIRECT_PER_SECOND, DIRECT_RESEND_INITIAL, DIRECT_RESEND_LIMIT, DIRECT_RESEND_MAX, REQUEST_HANDLER_TIMEOUT, MAX_FAILURE_REASON, MAX_KEPT_RESPONSES_PER_MEMBER, MAX_REQUESTS_IN_FLIGHT_PER_MEMBER, NOTE_MAX_AGE } from './constants.ts'
import type { RoomNotes } from './notes.ts'
import type { SignedRoomNote } from '../../envelope/note.ts'
import type { DirectSendOptions, RequestHandler } from '../index.ts'
import type { MessagingRoom } from '../messages/index.ts'
import type { PeerId } from '@libp2p/interface'

/** a direct message or request of ours waiting for its answer */
interface Waiting {
  note: SignedRoomNote
  /** the kind of note that answers it */
  answer: 'receipt' | 'response'
  resolve(note: SignedRoomNote): void
}

/** a request of a member we handle or handled: its response once we have it */
interface Answer {
  response?: SignedRoomNote
  /** when it may be forgotten: the request is refused as stale from then on */
  until: number
}

const hex = (bytes: Uint8Array): string => uint8ArrayToString(bytes, 'base16')

/**
 * Direct messages and requests between two members, signed like room
 * messages and not logged. Each goes on the stream with its recipient, else
 * through members that pass it on, and is sent again (by whatever route
 * there is then) until the recipient's signed receipt or response arrives,
 * for at most `DIRECT_RESEND_LIMIT`. The recipient takes each once (by its
 * id) and answers every copy, so a lost answer costs one more copy.
 */
export class DirectMessages {
  private readonly room: MessagingRoom
  private readonly notes: RoomNotes
  private readonly waiting = new Map<string, Waiting>()
  private readonly answers = new PeerMap<Map<string, Answer>>()
  /** requests of each member being handled (kept while they run, also after the member left) */
  private readonly inFlight = new PeerMap<number>()
  private readonly ownLimit = new RateLimiter({ points: DIRECT_PER_SECOND, duration: 1, keyPrefix: 'relaymesh-direct-own' })
  private handler?: RequestHandler

  constructor (room: MessagingRoom, notes: RoomNotes) {
    this.room = room
    this.notes = notes
  }

  /** handles requests from now on (replacing the handler before) */
  handle (handler: RequestHandler): void {
    this.handler = handler
  }

  unhandle (): void {
    this.handler = undefined
  }

  /**
   * Sends `data` to one member and resolves once it has arrived.
   *
   * @throws {InvalidParametersError | UnknownMemberError | RateLimitError | TimeoutError | RoomClosedError} see `Room.sendTo`
   */
  async send (peerId: PeerId, data: Uint8Array, options: DirectSendOptions & { payload?: boolean } = {}): Promise<void> {
    await this.exchange('direct', peerId, data, options)
  }

  /**
   * Sends a request to one member and resolves with its response.
   *
   * @throws {RequestFailedError} the member answered that it failed; see `Room.request` for the rest
   */
  async request (peerId: PeerId, data: Uint8Array, options: DirectSendOptions = {}): Promise<Uint8Array> {
    const response = await this.exchange('request', peerId, data, options)

    if (response.failed) {
      throw new RequestFailedError(`${peerId} answered: ${new TextDecoder().decode(response.data)}`)
    }

    return response.data
  }

  /**
   * @throws {UnknownMemberError} `peerId` is not a member a direct message can go to
   */
  checkRecipient (peerId: PeerId): void {
    if (this.room.getMember(peerId)?.known !== true) {
      throw new UnknownMemberError(`${peerId} is not a member of room "${this.room.name}"`)
    }
  }

  private async exchange (kind: 'direct' | 'request', peerId: PeerId, data: Uint8Array, options: DirectSendOptions & { payload?: boolean }): Promise<SignedRoomNote> {
    if (this.room.isClosed) {
      throw new RoomClosedError(`room "${this.room.name}" was left`)
    }

    if (!(data instanceof Uint8Array) || data.byteLength > this.notes.maxDataSize) {
      throw new InvalidParametersError(`a direct message or request is a Uint8Array of at most ${this.notes.maxDataSize} bytes`)
    }

    this.checkRecipient(peerId)
    options.signal?.throwIfAborted()
    this.ownLimit.consume('self')
    const note = await this.notes.seal({ kind, recipient: peerId, data, payload: options.payload === true })
    const key = hex(note.id)
    const timeout = options.timeout ?? this.room.ctx.init.directTimeout
    const signals = [this.room.signal, AbortSignal.timeout(timeout), ...(options.signal == null ? [] : [options.signal])]
    const signal = anySignal(signals)
    let resend: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined

    try {
      return await new Promise<SignedRoomNote>((resolve, reject) => {
        onAbort = () => {
          const reason = signal.reason

          if (reason instanceof Error && reason.name === 'TimeoutError') {
            reject(new TimeoutError(`no ${kind === 'direct' ? 'receipt' : 'response'} from ${peerId} within ${timeout} ms`))
          } else {
            reject(reason)
          }
        }

        if (signal.aborted) {
          onAbort()
          return
        }

        signal.addEventListener('abort', onAbort, { once: true })
        this.waiting.set(key, { note, answer: kind === 'direct' ? 'receipt' : 'response', resolve })
        let attempt = 0
        let wait = DIRECT_RESEND_INITIAL

        const send = (): void => {
          if (!this.notes.deliver(note, peerId, attempt++)) {
            this.room.log.trace('no route to %p for a %s note: trying again in %d ms', peerId, kind, wait)
          }

          if (Date.now() + wait - note.timestamp < DIRECT_RESEND_LIMIT) {
            resend = setTimeout(send, wait)
            wait = Math.min(wait * 2, DIRECT_RESEND_MAX)
          }
        }

        send()
      })
    } finally {
      clearTimeout(resend)
      signal.removeEventListener('abort', onAbort!)
      signal.clear()
      this.waiting.delete(key)
    }
  }

  /**
   * A note for us (checked, taken once): a direct message (delivered, and
   * a receipt sent), a request (handled, and its response sent), or the
   * answer to one of ours.
   */
  take (note: SignedRoomNote): void {
    switch (note.kind) {
      case 'direct':
        this.room.safeDispatchEvent('direct', {
          detail: note.payload
            ? { sender: note.sender, timestamp: note.timestamp, data: new Uint8Array(0), payload: this.room.payloads.incoming(note.sender, note.data) }
            : { sender: note.sender, timestamp: note.timestamp, data: note.data }
        })
        this.again(note)
        break
      case 'request':
        void this.handleRequest(note)
        break
      default:
        this.settle(note)
    }
  }

  /** a direct message or request taken before came again: its answer was lost */
  again (note: SignedRoomNote): void {
    if (note.kind === 'direct') {
      this.answer(note, { kind: 'receipt', data: new Uint8Array(0) }).catch(err => {
        this.room.log.error('could not sign a receipt for %p - %e', note.sender, err)
      })
    } else if (note.kind === 'request') {
      const response = this.answers.get(note.sender)?.get(hex(note.id))?.response

      if (response != null) {
        this.notes.deliver(response, note.sender)
      }
    }
  }

  /** a member's stream began: what waits for its answer goes to it now, on that stream */
  streamBegan (peerId: PeerId): void {
    for (const waiting of this.waiting.values()) {
      if (waiting.note.recipient!.equals(peerId) && Date.now() - waiting.note.timestamp < DIRECT_RESEND_LIMIT) {
        this.notes.deliver(waiting.note, peerId)
      }
    }
  }

  /** forgets the answers kept for a member that left */
  forget (peerId: PeerId): void {
    this.answers.delete(peerId)
  }

  /** (what waits for an answer rejects as the room's signal aborts) */
  stop (): void {
    this.answers.clear()
  }

  /** the answer to a note of ours */
  private settle (note: SignedRoomNote): void {
    const key = hex(note.replyTo!)
    const waiting = this.waiting.get(key)

    if (waiting == null || waiting.answer !== note.kind || !waiting.note.recipient!.equals(note.sender)) {
      this.room.log.trace('a %s of %p answers nothing of ours that waits', note.kind, note.sender)
      return
    }

    waiting.resolve(note)
  }

  private async handleRequest (note: SignedRoomNote): Promise<void> {
    let answers = this.answers.get(note.sender)

    if (answers == null) {
      answers = new Map()
      this.answers.set(note.sender, answers)
    }

    prune(answers)
    const key = hex(note.id)
    const handler = this.handler
    const inFlight = this.inFlight.get(note.sender) ?? 0

    if (handler == null || inFlight >= MAX_REQUESTS_IN_FLIGHT_PER_MEMBER) {
      const reason = handler == null ? 'no request handler' : `busy: ${inFlight} of its requests under way`
      this.room.log('refusing a request of %p: %s', note.sender, reason)
      await this.respond(answers, key, note, fail(reason))
      return
    }

    const answer: Answer = { until: Math.max(Date.now(), note.timestamp) + NOTE_MAX_AGE }
    answers.set(key, answer)
    this.inFlight.set(note.sender, inFlight + 1)
    let response: Pick<SignedRoomNote, 'data' | 'failed'>
    // a handler that never settles frees its slot after REQUEST_HANDLER_TIMEOUT
    const signal = anySignal([this.room.signal, AbortSignal.timeout(REQUEST_HANDLER_TIMEOUT)])

    try {
      const data = await Promise.race([
        handler({ sender: note.sender, timestamp: note.timestamp, data: note.data }, { signal }),
        new Promise<never>((resolve, reject) => {
          signal.addEventListener('abort', () => { reject(new TimeoutError(`the handler took longer than ${REQUEST_HANDLER_TIMEOUT} ms`)) }, { once: true })
        })
      ])

      if (!(data instanceof Uint8Array) || data.byteLength > this.notes.maxDataSize) {
        throw new InvalidParametersError(`a response is a Uint8Array of at most ${this.notes.maxDataSize} bytes`)
      }

      response = { data, failed: false }
    } catch (err: any) {
      this.room.log('the handler failed a request of %p - %e', note.sender, err)
      response = fail(err?.message ?? String(err))
    } finally {
      signal.clear()
      const left = (this.inFlight.get(note.sender) ?? 1) - 1

      if (left > 0) {
        this.inFlight.set(note.sender, left)
      } else {
        this.inFlight.delete(note.sender)
      }
    }

    await this.respond(answers, key, note, response)
  }

  /** signs and sends a response, kept to answer copies of the request with */
  private async respond (answers: Map<string, Answer>, key: string, request: SignedRoomNote, response: Pick<SignedRoomNote, 'data' | 'failed'>): Promise<void> {
    if (this.room.isClosed) {
      return
    }

    try {
      const note = await this.answer(request, { kind: 'response', ...response })

      answers.set(key, { response: note, until: Math.max(Date.now(), request.timestamp) + NOTE_MAX_AGE })

      while (answers.size > MAX_KEPT_RESPONSES_PER_MEMBER) {
        const oldest = [...answers].find(([, answer]) => answer.response != null)

        if (oldest == null) {
          break
        }

        answers.delete(oldest[0])
      }
    } catch (err: any) {
      this.room.log.error('could not answer a request of %p - %e', request.sender, err)
    }
  }

  /** signs an answer to `note` and sends it to its sender */
  private async answer (note: SignedRoomNote, answer: { kind: 'receipt' | 'response', data: Uint8Array, failed?: boolean }): Promise<SignedRoomNote> {
    const signed = await this.notes.seal({ ...answer, recipient: note.sender, replyTo: note.id })
    this.notes.deliver(signed, note.sender)
    return signed
  }
}

function fail (reason: string): Pick<SignedRoomNote, 'data' | 'failed'> {
  return { data: new TextEncoder().encode(reason).subarray(0, MAX_FAILURE_REASON), failed: true }
}

/** forgets answers to requests that are refused as stale by now */
function prune (answers: Map<string, Answer>): void {
  const now = Date.now()

  for (const [key, answer] of answers) {
    if (answer.response != null && answer.until < now) {
      answers.delete(key)
    }
  }
}
