import '../fixtures/datachannel-cleanup.ts'
import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { startRelayProgram } from '../../relay/relay.ts'
import { TS_NODE_ARGS, childEnv, track } from '../fixtures/children.ts'
import { TURNSERVER, startCoturn } from '../fixtures/coturn.ts'
import { jsonLineChild } from '../fixtures/json-lines.ts'
import { tempKeyFile } from '../fixtures/relay-process.ts'
import type { RelayProgram } from '../../relay/relay.ts'
import type { Coturn } from '../fixtures/coturn.ts'
import type { JsonLineChild } from '../fixtures/json-lines.ts'

const TURN_MEMBER = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'turn-member.ts')

interface MemberLine {
  event: string
  peerId?: string
  webrtcAddr?: string
  iceServers?: Array<{ urls: string[], username?: string, credential?: string }>
  reservationExpiry?: number
  remoteAddr?: string
  limited?: boolean
  error?: string
}

type Member = JsonLineChild<MemberLine> & { stop(): Promise<void> }

/**
 * Starts a TURN member (`test/fixtures/turn-member.ts`) reserving on
 * `relayAddr`; its `stop()` sends SIGTERM, then SIGKILL after 3 s
 */
function startMember (relayAddr: string): Member {
  const proc = spawn(process.execPath, [...TS_NODE_ARGS, TURN_MEMBER, relayAddr], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv() })
  track(proc)
  const member = jsonLineChild<MemberLine>(proc, 'TURN member')

  return Object.assign(member, {
    // a member stuck in the native deadlock ignores SIGTERM
    stop: async () => {
      if (member.running()) {
        proc.kill('SIGTERM')
        const killer = setTimeout(() => proc.kill('SIGKILL'), 3000)
        await member.exited
        clearTimeout(killer)
      }
    }
  })
}

describe('TURN (coturn) handed out by the relay', function () {
  this.timeout(300_000)
  let coturn: Coturn | undefined
  let relay: RelayProgram | undefined
  /** every member process the current test started */
  let members: Member[] = []
  /** aborted when the current test ends, also by its timeout: no member is started after */
  let testDone = new AbortController()

  before(function () {
    if (!existsSync(TURNSERVER)) {
      // Debian's coturn; .ci installs it
      this.skip()
    }
  })

  beforeEach(() => {
    testDone = new AbortController()
  })

  afterEach(async () => {
    testDone.abort()
    await Promise.all(members.map(async m => m.stop()))
    members = []
    await relay?.stop()
    relay = undefined
    await coturn?.stop()
    coturn = undefined
  })

  /**
   * Two members, each in its own process, limited to relay candidates (no
   * host or STUN ones): only TURN can connect them. The second dials the
   * first's `/p2p-circuit/webrtc` address; returns both ready lines.
   *
   * A pair that does not connect is replaced by a new one, at most twice:
   * two WebRTC peers may fail a first DTLS handshake (see TOOLCHAIN.md), and
   * a member may hang in node-datachannel's deadlock (docs/webrtc-fixes.md,
   * fault 3), after which only a new process can make WebRTC connections.
   */
  async function connectThroughTurn (): Promise<MemberLine[]> {
    const errors: string[] = []

    for (let pair = 0; pair < 3; pair++) {
      testDone.signal.throwIfAborted()
      const relayAddr = relay!.multiaddrs[0].toString()
      const [a, b] = [startMember(relayAddr), startMember(relayAddr)]
      members.push(a, b)
      let ready: MemberLine[] | undefined
      let result: MemberLine | undefined

      try {
        // each member waits up to 30 s for its ICE servers and 20 s for its address
        ready = await Promise.all([a, b].map(async m => m.waitFor(line => line.event === 'ready', 55_000)))
        const since = b.history.length
        b.send(`dial ${ready[0].webrtcAddr ?? ''}`)
        // the member's dial gives up after 20 s; a member stuck in the deadlock never answers
        result = await b.waitFor(line => line.event === 'dialed' || line.event === 'dial-failed', 30_000, since)
      } catch (err: any) {
        errors.push(err.message)
      }

      if (ready != null && result?.event === 'dialed') {
        for (const line of ready) {
          expect(line.iceServers).to.have.lengthOf(1)
        }

        expect(WebRTC.matches(multiaddr(result.remoteAddr ?? '')), result.remoteAddr).to.be.true()
        expect(result.limited, 'not the limited relayed connection').to.be.false()
        return ready
      }

      if (result?.event === 'dial-failed') {
        errors.push(result.error ?? 'dial failed')
      }

      await Promise.all([a.stop(), b.stop()])
    }

    throw new Error(`no TURN connection with three pairs of members: ${errors.join('; ')}`)
  }

  it('two members that may only use relay candidates connect over WebRTC through the handed-out TURN server', async () => {
    coturn = await startCoturn({ user: 'member', password: 'pw+1/2=' })
    relay = await startRelayProgram({
      port: 0,
      tcpPort: -1,
      keyFile: await tempKeyFile(),
      iceServers: [{ urls: [`turn:127.0.0.1:${coturn.port}?transport=udp`], username: 'member', credential: 'pw+1/2=' }]
    })

    await connectThroughTurn()

    // both allocated with the handed-out credentials and let the other's relayed address in
    expect(coturn.log().match(/user <member>: incoming packet ALLOCATE processed, success/g)).to.have.length.of.at.least(2)
    await pWaitFor(() => /user <member>: incoming packet CREATE_PERMISSION processed, success/.test(coturn?.log() ?? ''), { timeout: 5000 })
  })

  it('with --turn-secret-file, the relay hands out time-limited credentials that coturn\'s use-auth-secret accepts', async () => {
    const secret = 'relaymesh-test-secret'
    const file = join(await mkdtemp(join(tmpdir(), 'relaymesh-turn-')), 'secret')
    await writeFile(file, `${secret}\n`)
    coturn = await startCoturn({ secret })
    relay = await startRelayProgram({
      port: 0,
      tcpPort: -1,
      keyFile: await tempKeyFile(),
      iceServers: [{ urls: [`turn:127.0.0.1:${coturn.port}?transport=udp`] }],
      turnSecretFile: file
    })

    const [a] = await connectThroughTurn()
    const [{ username, credential }] = a.iceServers ?? []
    // valid until the reservation's end plus 10 minutes
    const expiry = (a.reservationExpiry ?? 0) / 1000
    expect(Number(username)).to.be.within(expiry + 600 - 30, expiry + 600 + 30)
    expect(credential).to.equal(createHmac('sha1', secret).update(username ?? '').digest('base64'))
    expect(coturn.log().match(/incoming packet ALLOCATE processed, success/g)).to.have.length.of.at.least(2)
    await pWaitFor(() => /incoming packet CREATE_PERMISSION processed, success/.test(coturn?.log() ?? ''), { timeout: 5000 })
  })
})
