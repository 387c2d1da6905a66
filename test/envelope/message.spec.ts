import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import {
  DEFAULT_MAX_REQUEST_AGE,
  ROOM_BATCH_CODEC,
  ROOM_BATCH_DOMAIN,
  openReplayRequest,
  readRoomBatch,
  sealReplayRequest,
  sealRoomBatch,
  signaturePayload,
  Signer,
  Verifier
} from '../../src/envelope/index.ts'
import { RoomBatch, SignedRoomBatch } from '../../src/envelope/pb/room-message.ts'
import { roomId } from '../../src/mesh/room-cid.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'

const MAX = 16 * 1024
const data = new TextEncoder().encode('hello')

describe('signed room message batches and replay requests', () => {
  let key: PrivateKey
  let other: PrivateKey
  let sender: PeerId
  let room: Uint8Array
  const verifier = new Verifier()

  before(async () => {
    key = await generateKeyPair('Ed25519')
    other = await generateKeyPair('Ed25519')
    sender = peerIdFromPrivateKey(key)
    room = await roomId('lobby')
  })

  it('reads what it seals: sender, room, epoch, seqs, timestamp, data; the signature verifies with libp2p too', async () => {
    const sealed = await sealRoomBatch({ sender, room, epoch: 5, firstSeq: 7, timestamp: 1234, data: [data, new Uint8Array([1])] }, new Signer(key))
    const { batch, verify } = readRoomBatch(sealed.bytes, { room, maxSize: MAX })
    await verify(verifier)
    expect(batch.sender.equals(sender)).to.be.true()
    expect(batch).to.include({ epoch: 5, firstSeq: 7, timestamp: 1234 })
    expect(batch.messages.map(m => m.seq)).to.deep.equal([7, 8])
    expect(batch.messages[0].data).to.equalBytes(data)
    expect(batch.messages[1].batch).to.equal(batch)

    // the signature is the libp2p signed-envelope scheme, made with the key imported once
    const signed = SignedRoomBatch.decode(sealed.bytes)
    expect(await key.publicKey.verify(signaturePayload(ROOM_BATCH_DOMAIN, ROOM_BATCH_CODEC, signed.batch).subarray(), signed.signature)).to.be.true()
  })

  it('carries a signed skippedFrom (seqs a sender skipped after a crash), before the first seq only', async () => {
    const sealed = await sealRoomBatch({ sender, room, epoch: 5, firstSeq: 1025, skippedFrom: 193, timestamp: 1, data: [data] }, new Signer(key))
    expect(readRoomBatch(sealed.bytes, { room, maxSize: MAX }).batch).to.include({ firstSeq: 1025, skippedFrom: 193 })
    expect((await sealRoomBatch({ sender, room, epoch: 5, firstSeq: 3, timestamp: 1, data: [data] }, new Signer(key))).skippedFrom).to.be.undefined()
    await expect(sealRoomBatch({ sender, room, epoch: 5, firstSeq: 3, skippedFrom: 3, timestamp: 1, data: [data] }, new Signer(key))).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')

    const late = RoomBatch.encode({ room: room as Uint8Array<ArrayBuffer>, sender: sender.toMultihash().bytes, epoch: 1n, firstSeq: 5n, skippedFrom: 5n, timestamp: 1n, data: [data] })
    expect(() => readRoomBatch(SignedRoomBatch.encode({ batch: late, signature: new Uint8Array(64) }), { room, maxSize: MAX })).to.throw().with.property('name', 'InvalidMessageError')
  })

  it('refuses a batch signed by another key than its sender', async () => {
    const batch = RoomBatch.encode({ room: room as Uint8Array<ArrayBuffer>, sender: sender.toMultihash().bytes, epoch: 1n, firstSeq: 1n, timestamp: 1n, data: [data] })
    const signature = await other.sign(signaturePayload(ROOM_BATCH_DOMAIN, ROOM_BATCH_CODEC, batch).subarray())
    const forged = SignedRoomBatch.encode({ batch, signature: signature as Uint8Array<ArrayBuffer> })
    await expect(readRoomBatch(forged, { room, maxSize: MAX }).verify(verifier)).to.eventually.be.rejected.with.property('name', 'InvalidSignatureError')
  })

  it('refuses a broken signature, another room or roster, seq 0, an empty batch, garbage and oversize bytes', async () => {
    const sealed = await sealRoomBatch({ sender, room, epoch: 1, firstSeq: 1, timestamp: 1, data: [data] }, new Signer(key))
    const broken = sealed.bytes.slice()
    broken[broken.length - 1] ^= 1
    await expect(readRoomBatch(broken, { room, maxSize: MAX }).verify(verifier)).to.eventually.be.rejected.with.property('name', 'InvalidSignatureError')
    expect(() => readRoomBatch(sealed.bytes, { room: new Uint8Array(32), maxSize: MAX })).to.throw().with.property('name', 'WrongRoomError')

    // a roster room of the same name is another room
    const signers = await roomId('lobby', [sender])
    expect(signers).to.not.equalBytes(room)
    expect(await roomId('lobby', [sender])).to.equalBytes(signers)
    expect(() => readRoomBatch(sealed.bytes, { room: signers, maxSize: MAX })).to.throw().with.property('name', 'WrongRoomError')

    const zero = RoomBatch.encode({ room: room as Uint8Array<ArrayBuffer>, sender: sender.toMultihash().bytes, epoch: 1n, firstSeq: 0n, timestamp: 1n, data: [data] })
    expect(() => readRoomBatch(SignedRoomBatch.encode({ batch: zero, signature: new Uint8Array(64) }), { room, maxSize: MAX })).to.throw().with.property('name', 'InvalidMessageError')
    const empty = RoomBatch.encode({ room: room as Uint8Array<ArrayBuffer>, sender: sender.toMultihash().bytes, epoch: 1n, firstSeq: 1n, timestamp: 1n, data: [] })
    expect(() => readRoomBatch(SignedRoomBatch.encode({ batch: empty, signature: new Uint8Array(64) }), { room, maxSize: MAX })).to.throw().with.property('name', 'InvalidMessageError')
    expect(() => readRoomBatch(new Uint8Array([1, 2, 3, 4]), { room, maxSize: MAX })).to.throw().with.property('name', 'InvalidMessageError')
    expect(() => readRoomBatch(sealed.bytes, { room, maxSize: 16 })).to.throw().with.property('name', 'MessageTooLargeError')
  })

  it('checks that a replay request comes from its signer, for the room, and is fresh', async () => {
    const requester = peerIdFromPrivateKey(key)
    const ROOM = 'lobby'
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
