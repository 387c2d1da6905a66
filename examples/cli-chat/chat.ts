/**
 * A room member in the terminal, on relaymesh's public API only: joins a room
 * through a relay, prints members joining and leaving, the room's messages
 * and direct messages to it, and sends every line typed (`/msg <peer> <text>`
 * to one member).
 */
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { createMeshNode } from '../../src/index.ts'
import type { MemberInfo, RelaymeshServices, Room, RoomMessage } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'

export const USAGE = `Usage: relaymesh-chat --relay <multiaddr> --room <name> [options]

  --relay <multiaddr>   a relay to bootstrap from (repeatable), e.g. the one
                        'npm start' prints
  --room <name>         the room to join
  --secret <text>       makes the room private: only members with the same
                        secret find it and read it (or RELAYMESH_CHAT_SECRET,
                        which other users cannot see in 'ps')
  --ice-bind <address>  the address WebRTC (ICE) binds to, e.g. 127.0.0.1
  --timeout <seconds>   how long to try to reach a relay (default 10)
  --help                this text

Type a line and press Enter to send it to the room; '/msg <peer> <text>' sends
it to one member only (<peer>: its id, or the end of it shown in the chat);
Ctrl-C leaves the room.`

export interface ChatOptions {
  relays: string[]
  room: string
  /** a private room's secret */
  secret?: string
  iceBind?: string
  timeout: number
}

/**
 * A usage mistake: exit code 2.
 */
export class UsageError extends Error {
  static name = 'UsageError'
  name = 'UsageError'
}

/**
 * No relay could be reached: exit code 1.
 */
export class RelayUnreachableError extends Error {
  static name = 'RelayUnreachableError'
  name = 'RelayUnreachableError'
}

export function parseChatArgs (args: string[], env: Record<string, string | undefined> = {}): ChatOptions | 'help' {
  const { values } = parseArgs({
    args,
    options: {
      relay: { type: 'string', multiple: true },
      room: { type: 'string' },
      secret: { type: 'string' },
      'ice-bind': { type: 'string' },
      timeout: { type: 'string', default: '10' },
      help: { type: 'boolean', default: false }
    },
    strict: true
  })

  if (values.help === true) {
    return 'help'
  }

  const relays = values.relay ?? []

  if (relays.length === 0) {
    throw new UsageError('--relay is required')
  }

  for (const relay of relays) {
    try {
      multiaddr(relay)
    } catch {
      throw new UsageError(`--relay ${relay} is not a multiaddr`)
    }
  }

  if (values.room == null || values.room === '') {
    throw new UsageError('--room is required')
  }

  const timeout = Number(values.timeout)

  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new UsageError('--timeout must be a number of seconds')
  }

  const secret = values.secret ?? env.RELAYMESH_CHAT_SECRET

  if (secret === '') {
    throw new UsageError('--secret must not be empty')
  }

  return { relays, room: values.room, secret, iceBind: values['ice-bind'], timeout }
}

/**
 * A chat session: the node, its room, and `stop()`.
 */
export interface Chat {
  node: Libp2p<RelaymeshServices>
  room: Room
  send(text: string): Promise<void>
  /** a line typed: a message to the room, or a command (`/msg <peer> <text>`) */
  input(line: string): Promise<void>
  stop(): Promise<void>
}

const short = (id: { toString(): string }): string => id.toString().slice(-8)

/**
 * Starts a node, reaches one of the relays (or throws
 * `RelayUnreachableError`), joins the room and writes what happens to
 * `print`.
 */
export async function startChat (options: ChatOptions, print: (line: string) => void): Promise<Chat> {
  const node = await createMeshNode({
    bootstrap: options.relays,
    rtcConfiguration: options.iceBind == null ? undefined : { bindAddress: options.iceBind }
  })

  const reasons: string[] = []
  const reached = await Promise.any(options.relays.map(async relay => {
    try {
      return await node.dial(multiaddr(relay), { signal: AbortSignal.timeout(options.timeout * 1000) })
    } catch (err: any) {
      reasons.push(`${relay}: ${reason(err)}`)
      throw err
    }
  })).catch(() => undefined)

  if (reached == null) {
    await node.stop()
    throw new RelayUnreachableError(`cannot reach the relay: ${reasons.join('; ')}`)
  }

  // the relays we reserve on hand out their STUN (and TURN) servers; WebRTC uses them from then on
  node.services.relays.addEventListener('relays:ice-servers-received', (evt) => {
    print(`* ICE servers from relay ${short(evt.detail.peerId)}: ${evt.detail.iceServers.flatMap(s => s.urls).join(' ')}`)
  })

  const room = await node.services.mesh.join(options.room, { secret: options.secret })
  const member = (verb: string) => (evt: CustomEvent<MemberInfo>) => {
    print(`* ${short(evt.detail.peerId)} ${verb}${verb === 'joined' ? ` (${evt.detail.route})` : ''}`)
  }
  room.addEventListener('member:joined', member('joined'))
  room.addEventListener('member:left', member('left'))
  room.addEventListener('member:unreachable', member('is unreachable'))
  room.addEventListener('member:rejoined', member('is back'))
  room.addEventListener('message', (evt: CustomEvent<RoomMessage>) => {
    print(`<${short(evt.detail.sender)}> ${new TextDecoder().decode(evt.detail.data)}${evt.detail.replayed ? ' (sent while you were away)' : ''}`)
  })
  room.addEventListener('direct', (evt) => {
    print(`[${short(evt.detail.sender)} to you] ${new TextDecoder().decode(evt.detail.data)}`)
  })
  print(`* you are ${short(node.peerId)} in ${room.isPrivate ? 'private ' : ''}room "${options.room}" via ${reached.remoteAddr.toString()}`)

  const send = async (text: string): Promise<void> => {
    await room.send(new TextEncoder().encode(text))
  }

  /** `/msg <peer> <text>`: to the one member whose id is or ends with <peer> */
  const direct = async (peer: string, text: string): Promise<void> => {
    const matches = room.members.filter(m => m.peerId.toString().endsWith(peer))

    if (matches.length !== 1) {
      print(matches.length === 0 ? `* no member ${peer} in the room` : `* ${peer} is the end of ${matches.length} members' ids: give more of it`)
      return
    }

    try {
      await room.sendTo(matches[0].peerId, new TextEncoder().encode(text))
      print(`-> ${short(matches[0].peerId)}: ${text}`)
    } catch (err: any) {
      print(`* could not send to ${short(matches[0].peerId)}: ${err.message}`)
    }
  }

  return {
    node,
    room,
    send,
    input: async (line) => {
      const msg = /^\/msg\s+(\S+)\s+(.+)$/.exec(line)

      if (msg != null) {
        await direct(msg[1], msg[2])
      } else if (line.startsWith('/')) {
        print('* commands: /msg <peer> <text>')
      } else {
        await send(line)
      }
    },
    stop: async () => {
      await room.leave().catch(() => {})
      await node.stop()
    }
  }
}

/** what went wrong, also for errors without a message (a dial's AggregateError, a socket error code) */
function reason (err: any): string {
  const inner: any[] = Array.isArray(err?.errors) ? err.errors : []
  const text = [err?.message, err?.error?.message, ...inner.map(e => e?.message ?? e?.code), err?.cause?.message, err?.code]
    .filter((t): t is string => typeof t === 'string' && t.length > 0)

  if (text.length > 0) {
    return [...new Set(text)].join(', ')
  }

  // the WebSocket transport rejects with the socket's bare error event
  return err?.type === 'error' ? 'the connection failed' : (err?.name ?? String(err))
}
