import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import {
  DEFAULT_MAX_CLOCK_SKEW,
  DEFAULT_MAX_RECORD_AGE,
  DEFAULT_MAX_RECORD_SIZE,
  MEMBER_RECORD_CODEC,
  MEMBER_RECORD_DOMAIN,
  initialSeq,
  openMemberRecord,
  sealMemberRecord,
  SequenceTracker
} from '../../src/envelope/index.ts'
import { MemberRecord as MemberRecordMessage } from '../../src/envelope/pb/member-record.ts'
import type { MemberRecord } from '../../src/envelope/index.ts'
import type { PeerId, PrivateKey, Record } from '@libp2p/interface'

const ROOM = 'lobby'
const NOW = 1_700_000_000_000
const RELAY = '12D3KooWAqcq3Sx8cwwHDvxwHZAxm7wSRP6czhRESLiFzZ2MP2sR'

/**
 * A record of our domain whose payload is whatever bytes the test wants, so
 * it can sign payloads `sealMemberRecord` would never produce
 */
class RawRecord implements Record {
  readonly domain: string
  readonly codec: Uint8Array
  private readonly bytes: Uint8Array

  constructor (bytes: Uint8Array, domain: string = MEMBER_RECORD_DOMAIN, codec: Uint8Array = MEMBER_RECORD_CODEC) {
    this.bytes = bytes
    this.domain = domain
    this.codec = codec
  }

  marshal (): Uint8Array {
    return this.bytes
  }

  equals (other: Record): boolean {
    return uint8ArrayEquals(this.marshal(), other.marshal())
  }
}

async function sealRaw (message: Partial<MemberRecordMessage>, key: PrivateKey, codec: Uint8Array = MEMBER_RECORD_CODEC): Promise<Uint8Array> {
  const envelope = await RecordEnvelope.seal(new RawRecord(MemberRecordMessage.encode(message), MEMBER_RECORD_DOMAIN, codec), key)
  return envelope.marshal()
}

function addrs (): ReturnType<typeof multiaddr>[] {
  return [
    multiaddr('/ip4/127.0.0.1/tcp/4001'),
    multiaddr(`/ip4/203.0.113.7/tcp/9090/ws/p2p/${RELAY}/p2p-circuit/webrtc`),
    multiaddr('/ip6/::1/udp/4002/quic-v1')
  ]
}

/**
 * Asserts `tracker` still holds exactly `accepted` for its peer (and nothing
 * else)
 */
function expectUnchanged (tracker: SequenceTracker, accepted: MemberRecord): void {
  expect(tracker.get(accepted.peerId)).to.equal(accepted)
  expect(tracker.values()).to.have.lengthOf(1)
}

describe('envelope', () => {
  let keyA: PrivateKey
  let keyB: PrivateKey
  let peerA: PeerId
  let peerB: PeerId

  before(async () => {
    keyA = await generateKeyPair('Ed25519')
    keyB = await generateKeyPair('Ed25519')
    peerA = peerIdFromPrivateKey(keyA)
    peerB = peerIdFromPrivateKey(keyB)
  })

  describe('sealMemberRecord/openMemberRecord', () => {
    let tracker: SequenceTracker
    let accepted: MemberRecord

    beforeEach(async () => {
      // a room state that no refused record may change
      tracker = new SequenceTracker()
      accepted = await openMemberRecord((await sealMemberRecord({ room: ROOM, seq: 1n, timestamp: NOW }, keyA)).envelope, { room: ROOM, now: NOW })
      tracker.accept(accepted)
    })

    it('round trips a record', async () => {
      const sealed = await sealMemberRecord({ room: ROOM, seq: 42n, timestamp: NOW, multiaddrs: addrs(), leaving: false }, keyA)

      expect(sealed.peerId.equals(peerA)).to.be.true()
      expect(sealed.envelope).to.be.an.instanceOf(Uint8Array)

      const opened = await openMemberRecord(sealed.envelope, { room: ROOM, now: NOW })

      expect(opened.peerId.equals(peerA)).to.be.true()
      expect(opened.peerId.toString()).to.equal(sealed.peerId.toString())
      expect(opened.room).to.equal(ROOM)
      expect(opened.seq).to.equal(42n)
      expect(opened.timestamp).to.equal(NOW)
      expect(opened.multiaddrs.map(ma => ma.toString())).to.deep.equal(addrs().map(ma => ma.toString()))
      expect(opened.leaving).to.be.false()
      expect(opened.envelope).to.equalBytes(sealed.envelope)
    })

    it('round trips a leaving record with no addresses', async () => {
      const sealed = await sealMemberRecord({ room: ROOM, seq: 43n, timestamp: NOW, leaving: true }, keyA)
      const opened = await openMemberRecord(sealed.envelope, { room: ROOM, now: NOW })

      expect(opened.peerId.equals(peerA)).to.be.true()
      expect(opened.room).to.equal(ROOM)
      expect(opened.seq).to.equal(43n)
      expect(opened.timestamp).to.equal(NOW)
      expect(opened.multiaddrs).to.deep.equal([])
      expect(opened.leaving).to.be.true()
    })

    it('round trips the largest sequence number and a room name with non-ASCII characters', async () => {
      const seq = 2n ** 64n - 1n
      const room = 'salle-à-manger-🚀'
      const sealed = await sealMemberRecord({ room, seq, timestamp: NOW }, keyA)
      const opened = await openMemberRecord(sealed.envelope, { room, now: NOW })

      expect(opened.seq).to.equal(seq)
      expect(opened.room).to.equal(room)
    })

    it('uses the current time when no timestamp is given', async () => {
      const before = Date.now()
      const sealed = await sealMemberRecord({ room: ROOM, seq: 1n }, keyA)
      const after = Date.now()

      expect(sealed.timestamp).to.be.within(before, after)

      const opened = await openMemberRecord(sealed.envelope, { room: ROOM })
      expect(opened.timestamp).to.equal(sealed.timestamp)
    })

    it('accepts a record from the signer the caller expects', async () => {
      const sealed = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW }, keyA)
      const opened = await openMemberRecord(sealed.envelope, { room: ROOM, now: NOW, signer: peerA })

      expect(opened.peerId.equals(peerA)).to.be.true()
    })

    it('refuses a forged signature', async () => {
      const sealed = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW, multiaddrs: addrs() }, keyA)
      const envelope = RecordEnvelope.createFromProtobuf(sealed.envelope)
      const signature = envelope.signature.slice()
      signature[7] ^= 0x01

      const forged = new RecordEnvelope({
        publicKey: envelope.publicKey,
        payloadType: envelope.payloadType,
        payload: envelope.payload,
        signature
      }).marshal()

      expect(forged).to.have.lengthOf(sealed.envelope.byteLength)
      expect(forged).to.not.equalBytes(sealed.envelope)
      await expect(openMemberRecord(forged, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidSignatureError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses a payload changed after signing', async () => {
      const sealed = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW }, keyA)
      const envelope = RecordEnvelope.createFromProtobuf(sealed.envelope)
      const message = MemberRecordMessage.decode(envelope.payload)

      const tampered = new RecordEnvelope({
        publicKey: envelope.publicKey,
        payloadType: envelope.payloadType,
        payload: MemberRecordMessage.encode({ ...message, seq: 1_000_000n }),
        signature: envelope.signature
      }).marshal()

      await expect(openMemberRecord(tampered, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidSignatureError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses a record whose signature was made by another key than the one in the envelope', async () => {
      const sealed = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW }, keyA)
      const envelope = RecordEnvelope.createFromProtobuf(sealed.envelope)

      // A's record and signature, with B's public key put in
      const swapped = new RecordEnvelope({
        publicKey: keyB.publicKey,
        payloadType: envelope.payloadType,
        payload: envelope.payload,
        signature: envelope.signature
      }).marshal()

      await expect(openMemberRecord(swapped, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidSignatureError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses a record naming peer A signed by key B', async () => {
      const bytes = await sealRaw({
        room: ROOM,
        peerId: peerA.toMultihash().bytes,
        seq: 1_000n,
        timestamp: BigInt(NOW),
        multiaddrs: addrs().map(ma => ma.bytes),
        leaving: false
      }, keyB)

      // the envelope itself is valid: signed by B, for our domain
      const envelope = await RecordEnvelope.openAndCertify(bytes, MEMBER_RECORD_DOMAIN)
      expect(envelope.publicKey.equals(keyB.publicKey)).to.be.true()

      await expect(openMemberRecord(bytes, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'WrongSignerError')
      await expect(openMemberRecord(bytes, { room: ROOM, now: NOW, signer: peerA })).to.eventually.be.rejected.with.property('name', 'WrongSignerError')
      await expect(openMemberRecord(bytes, { room: ROOM, now: NOW, signer: peerB })).to.eventually.be.rejected.with.property('name', 'WrongSignerError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses a record sent by another peer than the one the caller expects', async () => {
      const sealed = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW }, keyA)

      await expect(openMemberRecord(sealed.envelope, { room: ROOM, now: NOW, signer: peerB })).to.eventually.be.rejected.with.property('name', 'WrongSignerError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses a record of another room', async () => {
      const sealed = await sealMemberRecord({ room: 'kitchen', seq: 2n, timestamp: NOW }, keyA)

      await expect(openMemberRecord(sealed.envelope, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'WrongRoomError')
      // room names are compared exactly
      await expect(openMemberRecord(sealed.envelope, { room: 'Kitchen', now: NOW })).to.eventually.be.rejected.with.property('name', 'WrongRoomError')
      await expect(openMemberRecord(sealed.envelope, { room: 'kitchen ', now: NOW })).to.eventually.be.rejected.with.property('name', 'WrongRoomError')
      expectUnchanged(tracker, accepted)
    })

    it('leaves the room to the caller when no room is given', async () => {
      const sealed = await sealMemberRecord({ room: 'kitchen', seq: 2n, timestamp: NOW }, keyA)
      const opened = await openMemberRecord(sealed.envelope, { now: NOW })

      expect(opened.room).to.equal('kitchen')
      expect(opened.seq).to.equal(2n)
    })

    it('refuses a record with a room name longer than 256 bytes', async () => {
      const room = 'r'.repeat(257)
      await expect(sealMemberRecord({ room, seq: 2n, timestamp: NOW }, keyA)).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')
      const sealed = await sealRaw({ room, peerId: peerA.toMultihash().bytes, seq: 2n, timestamp: BigInt(NOW), multiaddrs: [] }, keyA)

      await expect(openMemberRecord(sealed, { room, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')
      await expect(openMemberRecord(sealed, { now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')
      await expect(openMemberRecord(sealed, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')

      // 256 bytes of UTF-8, not 256 characters
      const wide = 'é'.repeat(129)
      const wideSealed = await sealRaw({ room: wide, peerId: peerA.toMultihash().bytes, seq: 2n, timestamp: BigInt(NOW), multiaddrs: [] }, keyA)
      await expect(openMemberRecord(wideSealed, { room: wide, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')

      const longest = 'r'.repeat(256)
      const ok = await sealMemberRecord({ room: longest, seq: 2n, timestamp: NOW }, keyA)
      expect((await openMemberRecord(ok.envelope, { room: longest, now: NOW })).room).to.equal(longest)
    })

    it('refuses a record older than the maximum age', async () => {
      const maxAge = 60_000
      const old = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW - maxAge - 1 }, keyA)
      const oldest = await sealMemberRecord({ room: ROOM, seq: 3n, timestamp: NOW - maxAge }, keyA)

      await expect(openMemberRecord(old.envelope, { room: ROOM, now: NOW, maxAge })).to.eventually.be.rejected.with.property('name', 'StaleRecordError')
      expect((await openMemberRecord(oldest.envelope, { room: ROOM, now: NOW, maxAge })).seq).to.equal(3n)

      // with the default maximum age
      const defaultOld = await sealMemberRecord({ room: ROOM, seq: 4n, timestamp: NOW - DEFAULT_MAX_RECORD_AGE - 1 }, keyA)
      const defaultOldest = await sealMemberRecord({ room: ROOM, seq: 5n, timestamp: NOW - DEFAULT_MAX_RECORD_AGE }, keyA)
      await expect(openMemberRecord(defaultOld.envelope, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'StaleRecordError')
      expect((await openMemberRecord(defaultOldest.envelope, { room: ROOM, now: NOW })).seq).to.equal(5n)

      expectUnchanged(tracker, accepted)
    })

    it('refuses a record dated too far in the future', async () => {
      const maxClockSkew = 5_000
      const future = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW + maxClockSkew + 1 }, keyA)
      const latest = await sealMemberRecord({ room: ROOM, seq: 3n, timestamp: NOW + maxClockSkew }, keyA)

      await expect(openMemberRecord(future.envelope, { room: ROOM, now: NOW, maxClockSkew })).to.eventually.be.rejected.with.property('name', 'StaleRecordError')
      expect((await openMemberRecord(latest.envelope, { room: ROOM, now: NOW, maxClockSkew })).seq).to.equal(3n)

      // with the default clock skew
      const defaultFuture = await sealMemberRecord({ room: ROOM, seq: 4n, timestamp: NOW + DEFAULT_MAX_CLOCK_SKEW + 1 }, keyA)
      const defaultLatest = await sealMemberRecord({ room: ROOM, seq: 5n, timestamp: NOW + DEFAULT_MAX_CLOCK_SKEW }, keyA)
      await expect(openMemberRecord(defaultFuture.envelope, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'StaleRecordError')
      expect((await openMemberRecord(defaultLatest.envelope, { room: ROOM, now: NOW })).seq).to.equal(5n)

      expectUnchanged(tracker, accepted)
    })

    it('refuses a record without a timestamp', async () => {
      const bytes = await sealRaw({ room: ROOM, peerId: peerA.toMultihash().bytes, seq: 2n }, keyA)

      await expect(openMemberRecord(bytes, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'StaleRecordError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses a record larger than the maximum size', async () => {
      const sealed = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW, multiaddrs: addrs() }, keyA)
      const size = sealed.envelope.byteLength

      await expect(openMemberRecord(sealed.envelope, { room: ROOM, now: NOW, maxSize: size - 1 })).to.eventually.be.rejected.with.property('name', 'MessageTooLargeError')
      expect((await openMemberRecord(sealed.envelope, { room: ROOM, now: NOW, maxSize: size })).seq).to.equal(2n)
      expectUnchanged(tracker, accepted)
    })

    it('refuses a record larger than the default maximum size', async () => {
      const label = 'a'.repeat(60)
      const host = `${label}.${label}.${label}.${label}.example`
      const many = Array.from({ length: 32 }, (_, i) => multiaddr(`/dns4/${host}/tcp/${4000 + i}/ws`))
      // the signer refuses to make it...
      await expect(sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW, multiaddrs: many }, keyA)).to.eventually.be.rejected.with.property('name', 'InvalidParametersError')

      // ...and a receiver refuses it from anyone who does
      const sealed = await sealRaw({ room: ROOM, peerId: peerA.toMultihash().bytes, seq: 2n, timestamp: BigInt(NOW), multiaddrs: many.map(ma => ma.bytes) }, keyA)
      expect(sealed.byteLength).to.be.greaterThan(DEFAULT_MAX_RECORD_SIZE)
      await expect(openMemberRecord(sealed, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'MessageTooLargeError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses garbage', async () => {
      const garbage = [
        new Uint8Array(0),
        new TextEncoder().encode('definitely not a signed envelope'),
        Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Uint8Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff)
      ]

      for (const bytes of garbage) {
        await expect(openMemberRecord(bytes, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')
      }

      // a valid envelope cut short
      const sealed = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW, multiaddrs: addrs() }, keyA)
      await expect(openMemberRecord(sealed.envelope.subarray(0, sealed.envelope.byteLength - 10), { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')

      expectUnchanged(tracker, accepted)
    })

    it('refuses a libp2p peer record envelope (another signature domain)', async () => {
      const peerRecord = new PeerRecord({ peerId: peerA, multiaddrs: addrs(), seqNumber: 2n })
      const bytes = (await RecordEnvelope.seal(peerRecord, keyA)).marshal()

      // a perfectly valid envelope in its own domain...
      const envelope = await RecordEnvelope.openAndCertify(bytes, PeerRecord.DOMAIN)
      expect(envelope.publicKey.equals(keyA.publicKey)).to.be.true()

      // ...whose signature does not verify in ours
      await expect(openMemberRecord(bytes, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidSignatureError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses a member record payload signed for another domain', async () => {
      const payload = MemberRecordMessage.encode({ room: ROOM, peerId: peerA.toMultihash().bytes, seq: 2n, timestamp: BigInt(NOW) })
      const bytes = (await RecordEnvelope.seal(new RawRecord(payload, 'some-other-domain'), keyA)).marshal()

      await expect(openMemberRecord(bytes, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidSignatureError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses an envelope of our domain with another payload type', async () => {
      const bytes = await sealRaw({ room: ROOM, peerId: peerA.toMultihash().bytes, seq: 2n, timestamp: BigInt(NOW) }, keyA, new TextEncoder().encode('/relaymesh/member-record/2'))

      await expect(openMemberRecord(bytes, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')
      expectUnchanged(tracker, accepted)
    })

    it('refuses a signed payload that is not a member record', async () => {
      const notProtobuf = (await RecordEnvelope.seal(new RawRecord(Uint8Array.from([0xff, 0xff, 0xff])), keyA)).marshal()
      await expect(openMemberRecord(notProtobuf, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')

      const badPeerId = await sealRaw({ room: ROOM, peerId: Uint8Array.from([1, 2, 3]), seq: 2n, timestamp: BigInt(NOW) }, keyA)
      await expect(openMemberRecord(badPeerId, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')

      const noPeerId = await sealRaw({ room: ROOM, seq: 2n, timestamp: BigInt(NOW) }, keyA)
      await expect(openMemberRecord(noPeerId, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')

      const badAddr = await sealRaw({ room: ROOM, peerId: peerA.toMultihash().bytes, seq: 2n, timestamp: BigInt(NOW), multiaddrs: [Uint8Array.from([0xff, 0xff, 0xff, 0x0f])] }, keyA)
      await expect(openMemberRecord(badAddr, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')

      expectUnchanged(tracker, accepted)
    })

    it('refuses a record with more than 32 addresses', async () => {
      const many = Array.from({ length: 33 }, (_, i) => multiaddr(`/ip4/10.0.0.${i}/tcp/4001`).bytes)
      const bytes = await sealRaw({ room: ROOM, peerId: peerA.toMultihash().bytes, seq: 2n, timestamp: BigInt(NOW), multiaddrs: many }, keyA)

      await expect(openMemberRecord(bytes, { room: ROOM, now: NOW })).to.eventually.be.rejected.with.property('name', 'InvalidMessageError')

      const most = await sealRaw({ room: ROOM, peerId: peerA.toMultihash().bytes, seq: 2n, timestamp: BigInt(NOW), multiaddrs: many.slice(0, 32) }, keyA)
      expect((await openMemberRecord(most, { room: ROOM, now: NOW })).multiaddrs).to.have.lengthOf(32)

      expectUnchanged(tracker, accepted)
    })

    it('signs at most 32 addresses', async () => {
      const many = Array.from({ length: 40 }, (_, i) => multiaddr(`/ip4/10.0.0.${i}/tcp/4001`))
      const sealed = await sealMemberRecord({ room: ROOM, seq: 2n, timestamp: NOW, multiaddrs: many }, keyA)

      expect(sealed.multiaddrs).to.have.lengthOf(32)

      const opened = await openMemberRecord(sealed.envelope, { room: ROOM, now: NOW })
      expect(opened.multiaddrs.map(ma => ma.toString())).to.deep.equal(many.slice(0, 32).map(ma => ma.toString()))
    })
  })

  describe('SequenceTracker', () => {
    async function record (seq: bigint, key: PrivateKey = keyA, init: { timestamp?: number, leaving?: boolean } = {}): Promise<MemberRecord> {
      const sealed = await sealMemberRecord({ room: ROOM, seq, timestamp: init.timestamp ?? NOW, multiaddrs: addrs(), leaving: init.leaving }, key)
      return openMemberRecord(sealed.envelope, { room: ROOM, now: NOW })
    }

    it('takes the first record of a peer as news', async () => {
      const tracker = new SequenceTracker()
      const first = await record(5n)

      expect(tracker.get(peerA)).to.be.undefined()
      expect(tracker.check(first)).to.be.true()

      tracker.accept(first)

      expect(tracker.get(peerA)).to.equal(first)
      expect(tracker.values()).to.deep.equal([first])
    })

    it('takes a higher sequence number as news', async () => {
      const tracker = new SequenceTracker()
      const first = await record(5n)
      const second = await record(6n)
      const much = await record(1_000_000n)

      tracker.accept(first)
      expect(tracker.check(second)).to.be.true()
      expect(tracker.check(much)).to.be.true()

      // check alone changes nothing
      expect(tracker.get(peerA)).to.equal(first)

      tracker.accept(second)
      expect(tracker.get(peerA)).to.equal(second)
    })

    it('returns false for the very record already accepted', async () => {
      const tracker = new SequenceTracker()
      const first = await record(5n)
      tracker.accept(first)

      // the same object, and the same bytes opened again (sent by another member)
      expect(tracker.check(first)).to.be.false()
      const again = await openMemberRecord(first.envelope.slice(), { room: ROOM, now: NOW })
      expect(tracker.check(again)).to.be.false()

      expectUnchanged(tracker, first)
    })

    it('knows the bytes of accepted records only, so copies need no signature check', async () => {
      const tracker = new SequenceTracker()
      const first = await record(5n)
      const second = await record(6n)
      const other = await record(1n, keyB)

      expect(tracker.isAccepted(first.envelope)).to.be.false()
      tracker.accept(first)
      tracker.accept(other)
      expect(tracker.isAccepted(first.envelope.slice())).to.be.true()
      expect(tracker.isAccepted(other.envelope)).to.be.true()
      expect(tracker.isAccepted(second.envelope)).to.be.false()

      // the same last bytes with anything else before them are not the record
      const tampered = first.envelope.slice()
      tampered[10] ^= 1
      expect(tracker.isAccepted(tampered)).to.be.false()

      // a superseded record is no longer one of them
      tracker.accept(second)
      expect(tracker.isAccepted(first.envelope)).to.be.false()
      expect(tracker.isAccepted(second.envelope)).to.be.true()

      tracker.clear()
      expect(tracker.isAccepted(second.envelope)).to.be.false()
    })

    it('refuses a lower sequence number and keeps the accepted record', async () => {
      const tracker = new SequenceTracker()
      const older = await record(5n)
      const newer = await record(6n)

      tracker.accept(newer)

      expect(() => tracker.check(older)).to.throw().with.property('name', 'ReplayedRecordError')
      expectUnchanged(tracker, newer)

      // a lower number is refused even when it is signed later
      const laterButLower = await record(4n, keyA, { timestamp: NOW + 1_000 })
      expect(() => tracker.check(laterButLower)).to.throw().with.property('name', 'ReplayedRecordError')
      expectUnchanged(tracker, newer)
    })

    it('refuses the same sequence number with other content and keeps the accepted record', async () => {
      const tracker = new SequenceTracker()
      const first = await record(5n)
      const otherTimestamp = await record(5n, keyA, { timestamp: NOW + 1 })
      const otherLeaving = await record(5n, keyA, { leaving: true })

      tracker.accept(first)

      expect(() => tracker.check(otherTimestamp)).to.throw().with.property('name', 'ReplayedRecordError')
      expect(() => tracker.check(otherLeaving)).to.throw().with.property('name', 'ReplayedRecordError')
      expectUnchanged(tracker, first)
    })

    it('tracks each signer on its own', async () => {
      const tracker = new SequenceTracker()
      const a = await record(100n, keyA)
      const b = await record(1n, keyB)

      tracker.accept(a)

      // B's low number is news: A's numbers do not count for B
      expect(tracker.check(b)).to.be.true()
      tracker.accept(b)

      expect(tracker.get(peerA)).to.equal(a)
      expect(tracker.get(peerB)).to.equal(b)
      expect(tracker.values()).to.have.lengthOf(2)

      expect(() => tracker.check(b)).to.not.throw()
      expect(() => tracker.check(a)).to.not.throw()

      tracker.clear()
      expect(tracker.values()).to.be.empty()
      expect(tracker.get(peerA)).to.be.undefined()
    })
  })

  describe('initialSeq', () => {
    it('is the time in microseconds', () => {
      expect(initialSeq(0)).to.equal(0n)
      expect(initialSeq(NOW)).to.equal(BigInt(NOW) * 1000n)
    })

    it('grows over time', () => {
      expect(initialSeq(NOW + 1) > initialSeq(NOW)).to.be.true()

      // a member restarting a millisecond later starts above up to 999
      // records it signed from its previous initial number
      expect(initialSeq(NOW + 1) > initialSeq(NOW) + 999n).to.be.true()
    })

    it('uses the current time by default', async () => {
      const before = initialSeq(Date.now())
      const seq = initialSeq()
      const after = initialSeq(Date.now())

      expect(seq >= before).to.be.true()
      expect(seq <= after).to.be.true()

      await new Promise(resolve => setTimeout(resolve, 5))
      expect(initialSeq() > seq).to.be.true()
    })

    it('gives a record a restarted member signs precedence over its earlier ones', async () => {
      const tracker = new SequenceTracker()
      const before = await openMemberRecord((await sealMemberRecord({ room: ROOM, seq: initialSeq(NOW) + 500n, timestamp: NOW }, keyA)).envelope, { room: ROOM, now: NOW })
      tracker.accept(before)

      const restarted = await openMemberRecord((await sealMemberRecord({ room: ROOM, seq: initialSeq(NOW + 1), timestamp: NOW + 1 }, keyA)).envelope, { room: ROOM, now: NOW })
      expect(tracker.check(restarted)).to.be.true()
    })
  })
})
