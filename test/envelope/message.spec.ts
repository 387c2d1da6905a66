import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RecordEnvelope } from '@libp2p/peer-record'
import { expect } from 'aegir/chai'
import {
  DEFAULT_MAX_REQUEST_AGE,
  openReplayRequest,
  openRoomMessage,
  ROOM_MESSAGE_CODEC,
  ROOM_MESSAGE_DOMAIN,
  sealReplayRequest,
  sealRoomMessage
} from '../../src/envelope/index.ts'
import { Payload } from '../../src/envelope/open.ts'
import { RoomMessage as RoomMessagePayload } from '../../src/envelope/pb/room-message.ts'
import type { PrivateKey } from '@libp2p/interface'

const ROOM = 'lobby'
const MAX = 16 * 1024
const data = new TextEncoder().encode('hello')

describe('signed room messages and replay requests', () => {
  let key: PrivateKey
  let other: PrivateKey

  before(async () => {
    key = await generateKeyPair('Ed25519')
    other = await generateKeyPair('Ed25519')
  })

  it('opens what it seals: sender, room, epoch, seq, timestamp, data', async () => {
    const sealed = await sealRoomMessage({ room: ROOM, epoch: 5, seq: 7, timestamp: 1234, data }, key)
    const opened = await openRoomMessage(sealed.envelope, { room: ROOM, maxSize: MAX })
    expect(opened.sender.equals(peerIdFromPrivateKey(key))).to.be.true()
    expect(opened).to.include({ room: ROOM, epoch: 5, seq: 7, timestamp: 1234 })
    expect(opened.data).to.equalBytes(data)
  })

  it('refuses a message signed by another key than its sender', async () => {
    const payload = RoomMessagePayload.encode({ room: ROOM, sender: peerIdFromPrivateKey(key).toMultihash().bytes, epoch: 1n, seq: 1n, timestamp: 1n, data })
    const forged = await RecordEnvelope.seal(new Payload(ROOM_MESSAGE_DOMAIN, ROOM_MESSAGE_CODEC, payload), other)
    await expect(openRoomMessage(forged.marshal(), { room: ROOM, maxSize: MAX })).to.eventually.be.rejected.with.property('name', 'WrongSignerError')
  })

  it('refuses a broken signature, another room, seq 0, garbage and oversize bytes', async () => {
    const sealed = await sealRoomMessage({ room: ROOM, epoch: 1, seq: 1, timestamp: 1, data }, key)
    const broken = sealed.envelope.slice()
    broken[broken.length - 1] ^= 1
    await expect(openRoomMessage(broken, { room: ROOM, maxSize: MAX })).to.eventually.be.rejected.with.property('name', 'InvalidSignatureError')
    await expect(openRoomMessage(sealed.envelope, { room: 'elsewhere', maxSize: MAX })).to.eventually.be.rejected.with.property('name', 'WrongRoomError')
    const zero = await sealRoomMessage({ room: ROOM, epoch: 1, seq: 0, timestamp: 1, data }, key)
    await expect(openRoomMessage(zero.envelope, { room: ROOM, maxSize: MAX })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')
    await expect(openRoomMessage(new Uint8Array([1, 2, 3, 4]), { room: ROOM, maxSize: MAX })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')
    await expect(openRoomMessage(sealed.envelope, { room: ROOM, maxSize: 16 })).to.eventually.be.rejected.with.property('name', 'MessageTooLargeError')
  })

  it('checks that a replay request comes from its signer, for the room, and is fresh', async () => {
    const requester = peerIdFromPrivateKey(key)
    const request = await sealReplayRequest({ room: ROOM, timestamp: 1_000_000 }, key)
    const opened = await openReplayRequest(request, requester, { room: ROOM, maxSize: MAX, now: 1_000_500 })
    expect(opened.requester.equals(requester)).to.be.true()
    expect(opened.nonce).to.have.lengthOf(16)

    // each request has its own nonce
    const again = await openReplayRequest(await sealReplayRequest({ room: ROOM, timestamp: 1_000_000 }, key), requester, { room: ROOM, maxSize: MAX, now: 1_000_500 })
    expect(again.nonce).to.not.deep.equal(opened.nonce)

    await expect(openReplayRequest(request, peerIdFromPrivateKey(other), { room: ROOM, maxSize: MAX, now: 1_000_500 })).to.eventually.be.rejected.with.property('name', 'WrongSignerError')
    await expect(openReplayRequest(request, requester, { room: 'elsewhere', maxSize: MAX, now: 1_000_500 })).to.eventually.be.rejected.with.property('name', 'WrongRoomError')
    await expect(openReplayRequest(request, requester, { room: ROOM, maxSize: MAX, now: 1_000_000 + DEFAULT_MAX_REQUEST_AGE + 1 })).to.eventually.be.rejected.with.property('name', 'StaleRecordError')
  })
})
