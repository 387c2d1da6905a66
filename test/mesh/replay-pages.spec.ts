import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { sealRoomBatch } from '../../src/envelope/batch.ts'
import { Signer } from '../../src/envelope/keys.ts'
import { ReplayRefusedError } from '../../src/mesh/errors.ts'
import { ReplayGuard, answerReplay, requestReplay } from '../../src/mesh/replay/index.ts'
import { pageSize } from '../../src/mesh/replay/request.ts'
import type { SignedRoomBatch } from '../../src/envelope/batch.ts'
import type { HeldRange } from '../../src/mesh/messages/log.ts'
import type { ReplayAnswer } from '../../src/mesh/replay/answer.ts'
import type { ReplayContext, ReplayLog, ReplaySource, Want } from '../../src/mesh/replay/index.ts'
import type { Connection, PeerId, PrivateKey } from '@libp2p/interface'

const ROOM = 'pages'
const MAX_MESSAGE_SIZE = 1024
const init = { maxMessageSize: MAX_MESSAGE_SIZE, maxLogMessages: 10_000, replayTimeout: 5_000 }

function context (privateKey: PrivateKey): ReplayContext {
  return { room: ROOM, protocol: '/test/replay', privateKey, signal: new AbortController().signal, init, maxHeldRanges: 10_000 }
}

/**
 * A responder holding 3 messages (one batch) of each of `senders`, answering
 * over `streamPair()`; the requester wants what `wants` picks.
 */
async function replayOver (options: { senders: PeerId[], batches: Map<string, SignedRoomBatch>, requester: PrivateKey, responder: PrivateKey, budget?: number, refuse?: boolean, wants?(held: HeldRange[]): Want[] }): Promise<{ received: Uint8Array[], settled: HeldRange[], truncated: boolean, answer: Promise<ReplayAnswer> }> {
  const [outbound, inbound] = await streamPair()
  const requesterId = peerIdFromPrivateKey(options.requester)
  const source: ReplaySource = {
    context: context(options.responder),
    guard: new ReplayGuard({ bytesPerMinute: options.budget ?? 32 * 1024 * 1024, maxNonces: 256, nonceLifetime: 60_000 }),
    checkAsker: () => {
      if (options.refuse === true) {
        throw new ReplayRefusedError('only a member with a room session may ask for a replay')
      }
    },
    held: () => options.senders.map(sender => ({ sender, epoch: 1, lowest: 1, highest: 3 })),
    batches: async (want) => {
      const batch = options.batches.get(want.sender.toString())!
      return batch.firstSeq + batch.messages.length - 1 > want.after ? [batch] : []
    }
  }
  const answer = answerReplay(inbound, requesterId, name => name === ROOM ? source : undefined, init)
  answer.catch(() => {})

  const received: Uint8Array[] = []
  let settled: HeldRange[] = []
  const log: ReplayLog = {
    context: context(options.requester),
    wants: options.wants ?? (held => held.map(h => ({ sender: h.sender, epoch: h.epoch, after: 0, upTo: h.highest }))),
    receive: async (bytes) => { received.push(bytes) },
    settle: (_peerId, held) => { settled = held }
  }
  const connection = { newStream: async () => outbound } as unknown as Connection
  const result = await requestReplay(log, { peerId: peerIdFromPrivateKey(options.responder), connection })

  return { received, settled, truncated: result.truncated, answer }
}

describe('replay pages over streamPair()', () => {
  let requester: PrivateKey
  let responder: PrivateKey
  const senders: PeerId[] = []
  const batches = new Map<string, SignedRoomBatch>()

  before(async () => {
    requester = await generateKeyPair('Ed25519')
    responder = await generateKeyPair('Ed25519')

    // more sender-epochs than fit in one page of `held` or `wants`
    for (let i = 0; i < 3 * pageSize(MAX_MESSAGE_SIZE) + 5; i++) {
      const key = await generateKeyPair('Ed25519')
      const sender = peerIdFromPrivateKey(key)
      senders.push(sender)
      batches.set(sender.toString(), await sealRoomBatch({ sender, room: new Uint8Array(32), epoch: 1, firstSeq: 1, timestamp: 1, data: [new Uint8Array(200), new Uint8Array(200), new Uint8Array(200)] }, new Signer(key)))
    }
  })

  it('lists every held range and sends every wanted batch, across pages', async () => {
    expect(senders.length).to.be.above(3 * pageSize(MAX_MESSAGE_SIZE))
    const { received, settled, truncated, answer } = await replayOver({ senders, batches, requester, responder })

    expect(settled.map(h => h.sender.toString())).to.deep.equal(senders.map(String))
    expect(received).to.have.lengthOf(senders.length)
    expect(truncated).to.be.false()
    expect(await answer).to.include({ room: ROOM, messages: 3 * senders.length, truncated: false })
  })

  it('sends only what is wanted', async () => {
    const wanted = new Set(senders.slice(0, 7).map(String))
    const { received, answer } = await replayOver({
      senders,
      batches,
      requester,
      responder,
      wants: held => held.filter(h => wanted.has(h.sender.toString())).map(h => ({ sender: h.sender, epoch: h.epoch, after: 0, upTo: h.highest }))
    })

    expect(received).to.have.lengthOf(7)
    expect((await answer).messages).to.equal(21)
  })

  it('stops at the requester\'s budget and says so', async () => {
    // the listing and about 10 batches
    const budget = senders.length * 80 + 10 * 700
    const { received, truncated, answer } = await replayOver({ senders, batches, requester, responder, budget })

    expect(truncated).to.be.true()
    expect(received.length).to.be.within(1, senders.length - 1)
    expect(await answer).to.include({ truncated: true })
  })

  it('a refused asker learns why: ReplayRefusedError', async () => {
    await expect(replayOver({ senders, batches, requester, responder, refuse: true })).to.eventually.be.rejected.with.property('name', 'ReplayRefusedError')
  })
})
