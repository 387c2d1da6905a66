import { expect } from 'aegir/chai'
import { backoff, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MISSED_HEARTBEATS, DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX, healthScore, Liveness } from '../../src/health/index.ts'

const INTERVAL = 500
const MISSED = 3

function liveness (lossWindow?: number): Liveness {
  // leave lossWindow out rather than passing `undefined`, so the default applies
  return new Liveness(lossWindow == null ? { heartbeatInterval: INTERVAL, missedHeartbeats: MISSED } : { heartbeatInterval: INTERVAL, missedHeartbeats: MISSED, lossWindow })
}

describe('health', () => {
  describe('Liveness', () => {
    it('has no RTT, loss or overdue state before any heartbeat', () => {
      const l = liveness()

      expect(l.rtt).to.be.undefined()
      expect(l.loss(0)).to.equal(0)
      expect(l.lastHeard).to.be.undefined()
    })

    it('measures RTT from heartbeat replies', () => {
      const l = liveness()

      l.sent(1n, 1_000)
      l.acknowledged(1n, 1_040)
      expect(l.rtt).to.equal(40)

      // a moving average: a faster reply pulls it down, but not all the way
      l.sent(2n, 1_500)
      l.acknowledged(2n, 1_520)
      expect(l.rtt).to.be.lessThan(40)
      expect(l.rtt).to.be.greaterThan(20)

      // many replies at 20 ms settle on 20 ms
      for (let i = 3; i < 200; i++) {
        const at = 1_000 + i * INTERVAL
        l.sent(BigInt(i), at)
        l.acknowledged(BigInt(i), at + 20)
      }
      expect(l.rtt).to.be.closeTo(20, 0.1)
      expect(l.loss(1_000 + 200 * INTERVAL)).to.equal(0)
    })

    it('takes an acknowledgement as covering every earlier heartbeat, with an RTT from the one it names', () => {
      const l = liveness()

      l.sent(1n, 0)
      l.sent(2n, 500)
      // the peer's next heartbeat acknowledges 2, which it held for 10 ms
      l.acknowledged(2n, 540, 10)
      expect(l.rtt).to.equal(30)
      expect(l.loss(540)).to.equal(0)

      // 1 was answered by that acknowledgement: a late one for it changes nothing
      l.acknowledged(1n, 560)
      expect(l.rtt).to.equal(30)
      expect(l.loss(2_000)).to.equal(0)
    })

    it('subtracts the time the peer held the heartbeat from the RTT, never below 0', () => {
      const l = liveness()

      l.sent(1n, 0)
      l.acknowledged(1n, 480, 450)
      expect(l.rtt).to.equal(30)

      const skewed = liveness()
      skewed.sent(1n, 0)
      skewed.acknowledged(1n, 100, 150)
      expect(skewed.rtt).to.equal(0)
    })

    it('acknowledges the highest heartbeat received, with how long it was held, until a restart', () => {
      const l = liveness()

      expect(l.acknowledgement(0)).to.deep.equal({ ack: 0n, ackDelay: 0 })

      l.receivedHeartbeat(3n, 100)
      l.receivedHeartbeat(2n, 150) // late and lower: still 3
      expect(l.acknowledgement(400)).to.deep.equal({ ack: 3n, ackDelay: 300 })

      l.receivedHeartbeat(4n, 500)
      expect(l.acknowledgement(520)).to.deep.equal({ ack: 4n, ackDelay: 20 })

      // a new stream: the peer's numbering is not carried over
      l.restart(600)
      expect(l.acknowledgement(700)).to.deep.equal({ ack: 0n, ackDelay: 0 })
      l.receivedHeartbeat(1n, 700)
      expect(l.acknowledgement(710)).to.deep.equal({ ack: 1n, ackDelay: 10 })
    })

    it('ignores replies to heartbeats it did not send, or answered already', () => {
      const l = liveness()

      l.acknowledged(7n, 100)
      expect(l.rtt).to.be.undefined()
      expect(l.loss(100)).to.equal(0)
      // it still heard from the peer
      expect(l.lastHeard).to.equal(100)

      l.sent(1n, 200)
      l.acknowledged(1n, 250)
      l.acknowledged(1n, 900)
      expect(l.rtt).to.equal(50)
      expect(l.lastHeard).to.equal(900)
      expect(l.loss(900)).to.equal(0)
    })

    it('counts a heartbeat as lost once it is more than two intervals old', () => {
      const l = liveness()

      l.sent(1n, 0)
      expect(l.loss(2 * INTERVAL)).to.equal(0)
      expect(l.loss(2 * INTERVAL + 1)).to.equal(1)
    })

    it('measures loss over answered and unanswered heartbeats', () => {
      const l = liveness()

      l.sent(1n, 0)
      l.acknowledged(1n, 10)
      l.sent(2n, 500) // not acknowledged within two intervals
      l.sent(3n, 1_600)
      // acknowledges 2 as well, but 2 was counted lost at 1_600
      l.acknowledged(3n, 1_620)
      l.sent(4n, 2_100) // still within two intervals

      // 4 is pending and not counted
      expect(l.loss(2_101)).to.be.closeTo(1 / 3, 1e-9)

      l.acknowledged(4n, 2_200)
      expect(l.loss(2_200)).to.equal(0.25)
    })

    it('does not count a reply that arrives after the heartbeat was counted lost', () => {
      const l = liveness()

      l.sent(1n, 0)
      expect(l.loss(1_001)).to.equal(1)

      l.acknowledged(1n, 1_100)
      expect(l.loss(1_100)).to.equal(1)
      expect(l.rtt).to.be.undefined()
      expect(l.lastHeard).to.equal(1_100)
    })

    it('expires unanswered heartbeats when the next one is sent', () => {
      const l = liveness()

      l.sent(1n, 0)
      l.sent(2n, 1_001)
      l.acknowledged(2n, 1_011)

      expect(l.loss(1_011)).to.equal(0.5)
    })

    it('measures loss over the last lossWindow heartbeats only', () => {
      const l = liveness(4)
      let now = 0

      // four lost...
      for (let i = 0; i < 4; i++) {
        l.sent(BigInt(i), now)
        now += INTERVAL
      }
      now += 2 * INTERVAL + 1
      expect(l.loss(now)).to.equal(1)

      // ...then four answered push them out of the window
      for (let i = 4; i < 8; i++) {
        l.sent(BigInt(i), now)
        l.acknowledged(BigInt(i), now + 10)
        expect(l.loss(now + 10)).to.equal((7 - i) / 4)
        now += INTERVAL
      }
      expect(l.loss(now)).to.equal(0)
    })

    it('uses a window of 20 heartbeats by default', () => {
      const l = liveness()
      let now = 0

      l.sent(0n, now)
      now += 2 * INTERVAL + 1
      expect(l.loss(now)).to.equal(1)

      for (let i = 1; i <= 19; i++) {
        l.sent(BigInt(i), now)
        l.acknowledged(BigInt(i), now + 5)
        now += INTERVAL
      }
      expect(l.loss(now)).to.equal(1 / 20)

      l.sent(20n, now)
      l.acknowledged(20n, now + 5)
      expect(l.loss(now + 5)).to.equal(0)
    })

    it('is overdue after missedHeartbeats intervals of silence, and not before', () => {
      const l = liveness()

      l.heard(10_000)
      expect(l.overdue(10_000)).to.be.false()
      expect(l.overdue(10_000 + MISSED * INTERVAL - 1)).to.be.false()
      expect(l.overdue(10_000 + MISSED * INTERVAL)).to.be.false()
      expect(l.overdue(10_000 + MISSED * INTERVAL + 1)).to.be.true()

      // anything heard from the peer, not only replies, makes it current again
      l.heard(12_000)
      expect(l.overdue(12_000 + MISSED * INTERVAL)).to.be.false()
      expect(l.overdue(12_000 + MISSED * INTERVAL + 1)).to.be.true()
    })

    it('is not overdue while heartbeats are answered', () => {
      const l = liveness()
      l.restart(0)

      for (let i = 1; i <= 20; i++) {
        const at = i * INTERVAL
        l.sent(BigInt(i), at)
        l.acknowledged(BigInt(i), at + 30)
        expect(l.overdue(at + INTERVAL)).to.be.false()
      }
    })

    it('becomes overdue when heartbeats go unanswered', () => {
      const l = liveness()
      l.sent(1n, 0)
      l.acknowledged(1n, 20)

      let at = 20
      for (let i = 2; i <= 10; i++) {
        at = (i - 1) * INTERVAL
        l.sent(BigInt(i), at)
        expect(l.overdue(at)).to.equal(at - 20 > MISSED * INTERVAL)
      }

      expect(l.overdue(at)).to.be.true()
      expect(l.loss(at)).to.be.greaterThan(0.5)
    })

    it('forgets unanswered heartbeats on restart but keeps RTT and loss history', () => {
      const l = liveness()

      l.sent(1n, 0)
      l.acknowledged(1n, 60)
      l.sent(2n, 500)
      l.sent(3n, 1_000) // 2 expires at 1501, counted lost
      expect(l.loss(1_501)).to.equal(0.5)
      expect(l.overdue(1_800)).to.be.true()

      // a new stream: 3 will never be answered, and must not count as lost
      l.restart(1_800)

      expect(l.lastHeard).to.equal(1_800)
      expect(l.overdue(1_800)).to.be.false()
      expect(l.overdue(1_800 + MISSED * INTERVAL)).to.be.false()
      expect(l.overdue(1_800 + MISSED * INTERVAL + 1)).to.be.true()
      expect(l.rtt).to.equal(60)
      expect(l.loss(10_000)).to.equal(0.5)

      // a reply to a heartbeat of the old stream is not matched
      l.acknowledged(3n, 1_900)
      expect(l.rtt).to.equal(60)
      expect(l.loss(1_900)).to.equal(0.5)
    })

    it('scores from its RTT and loss', () => {
      const l = liveness()

      l.sent(1n, 0)
      l.acknowledged(1n, 20)
      expect(l.score('direct', 20)).to.equal(100)
      expect(l.score('relayed', 20)).to.equal(80)
      expect(l.score('connecting', 20)).to.equal(0)
      expect(l.score('unreachable', 20)).to.equal(0)

      l.sent(2n, 500)
      // 2 lost: half the heartbeats
      expect(l.score('direct', 1_501)).to.equal(50)
    })

    it('has the documented defaults', () => {
      expect(DEFAULT_HEARTBEAT_INTERVAL).to.equal(333)
      expect(DEFAULT_MISSED_HEARTBEATS).to.equal(3)
      expect(DEFAULT_RECONNECT_INITIAL).to.equal(250)
      expect(DEFAULT_RECONNECT_MAX).to.equal(30_000)
    })
  })

  describe('healthScore', () => {
    it('scores a direct member with 20 ms RTT and no loss 100', () => {
      expect(healthScore('direct', 20, 0)).to.equal(100)
    })

    it('does not penalise an RTT up to 20 ms, or an unmeasured one', () => {
      expect(healthScore('direct', 0, 0)).to.equal(100)
      expect(healthScore('direct', 5, 0)).to.equal(100)
      expect(healthScore('direct', undefined, 0)).to.equal(100)
    })

    it('halves the score at 520 ms', () => {
      expect(healthScore('direct', 520, 0)).to.equal(50)
      expect(healthScore('direct', 1_020, 0)).to.equal(33)
    })

    it('falls as RTT grows', () => {
      let previous = 101
      for (let rtt = 0; rtt <= 5_000; rtt += 50) {
        const score = healthScore('direct', rtt, 0)
        expect(score).to.be.at.most(previous)
        expect(score).to.be.within(0, 100)
        previous = score
      }
      expect(previous).to.be.lessThan(10)
    })

    it('scores a relayed member at most 80', () => {
      expect(healthScore('relayed', 20, 0)).to.equal(80)
      expect(healthScore('relayed', undefined, 0)).to.equal(80)
      expect(healthScore('relayed', 520, 0)).to.equal(40)

      for (let rtt = 0; rtt <= 2_000; rtt += 100) {
        for (const loss of [0, 0.1, 0.5, 1]) {
          expect(healthScore('relayed', rtt, loss)).to.be.within(0, 80)
          expect(healthScore('relayed', rtt, loss)).to.be.at.most(healthScore('direct', rtt, loss))
        }
      }
    })

    it('scores a connecting or unreachable member 0', () => {
      for (const state of ['connecting', 'unreachable'] as const) {
        expect(healthScore(state, 20, 0)).to.equal(0)
        expect(healthScore(state, undefined, 0)).to.equal(0)
        expect(healthScore(state, 500, 0.5)).to.equal(0)
      }
    })

    it('halves the score at 50% loss', () => {
      expect(healthScore('direct', 20, 0.5)).to.equal(50)
      expect(healthScore('direct', 520, 0.5)).to.equal(25)
      expect(healthScore('relayed', 20, 0.5)).to.equal(40)
    })

    it('scores total loss 0 and keeps out-of-range loss within 0-100', () => {
      expect(healthScore('direct', 20, 1)).to.equal(0)
      expect(healthScore('direct', 20, 2)).to.equal(0)
      expect(healthScore('direct', 20, -1)).to.equal(100)
    })
  })

  describe('backoff', () => {
    function ceiling (failures: number, initial: number, max: number): number {
      return Math.min(max, initial * 2 ** (failures - 1))
    }

    it('stays within [0, min(max, initial * 2^(failures-1))]', () => {
      for (let failures = 1; failures <= 20; failures++) {
        const top = ceiling(failures, DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX)
        let highest = 0

        for (let i = 0; i < 500; i++) {
          const delay = backoff(failures, DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX)

          expect(delay).to.be.a('number')
          expect(Number.isInteger(delay)).to.be.true()
          expect(delay).to.be.within(0, top)
          highest = Math.max(highest, delay)
        }

        // full jitter: spread over the whole range, not stuck near 0
        expect(highest).to.be.greaterThan(top / 2)
      }
    })

    it('doubles the ceiling per failure up to the maximum', () => {
      const samples = (failures: number): number => Math.max(...Array.from({ length: 2_000 }, () => backoff(failures, 100, 1_000)))

      expect(samples(1)).to.be.within(51, 100)
      expect(samples(2)).to.be.within(101, 200)
      expect(samples(3)).to.be.within(201, 400)
      expect(samples(4)).to.be.within(401, 800)
      expect(samples(5)).to.be.within(501, 1_000)
      expect(samples(50)).to.be.within(501, 1_000)
    })

    it('treats no failures like one', () => {
      for (let i = 0; i < 500; i++) {
        expect(backoff(0, 250, 30_000)).to.be.within(0, 250)
      }
    })

    it('stays within the maximum for very many failures', () => {
      for (const failures of [100, 1_000, 10_000]) {
        for (let i = 0; i < 100; i++) {
          expect(backoff(failures, 250, 30_000)).to.be.within(0, 30_000)
        }
      }
    })
  })
})
