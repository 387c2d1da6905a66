import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { TS_NODE_ARGS, childEnv, track } from '../fixtures/children.ts'

const exec = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('../fixtures/ipv6-grouping.ts', import.meta.url))

async function ip (...args: string[]): Promise<void> {
  await exec('ip', args)
}

/**
 * Two clients from different addresses of one IPv6 /64 count as one IP for the relay's per-IP
 * limits. Loopback has only ::1, so this runs in a network namespace of its own whose loopback
 * has three addresses in two /64s (nothing leaves it); the relay and its clients run in one
 * child process there, each client dialing the relay at its own address so its connection
 * comes from it.
 */
describe('relay server: per-IP limits count an IPv6 /64 as one IP', function () {
  this.timeout(60_000)
  const ns = `rmhard-${process.pid}`
  let usable = false

  before(async function () {
    try {
      await ip('netns', 'add', ns)
      await ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
      for (const addr of ['fd00:1:2:3::1/64', 'fd00:1:2:3::2/64', 'fd00:1:2:4::1/64']) {
        await ip('netns', 'exec', ns, 'ip', '-6', 'addr', 'add', addr, 'dev', 'lo', 'nodad')
      }
      usable = true
    } catch (err: any) {
      process.stderr.write(`      skipped: cannot make a network namespace (needs root and iproute2): ${String(err.message).split('\n')[0]}\n`)
      this.skip()
    }
  })

  after(async () => {
    if (!usable) {
      await ip('netns', 'del', ns).catch(() => {})
      return
    }

    const { stdout } = await exec('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }))
    for (const pid of stdout.split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL') } catch {}
    }
    await ip('netns', 'del', ns).catch(() => {})
  })

  it('refuses a second reservation from another address of the same /64, and admits one from the next /64', async () => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...TS_NODE_ARGS, SCRIPT, 'fd00:1:2:3::1', 'fd00:1:2:3::2', 'fd00:1:2:4::1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv()
    })
    track(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
    const code = await new Promise(resolve => child.once('exit', resolve))

    expect(code, stderr).to.equal(0)
    expect(JSON.parse(stdout)).to.deep.equal({
      'fd00:1:2:3::1': 'OK from fd00:1:2:3::1',
      'fd00:1:2:3::2': 'RESERVATION_REFUSED',
      'fd00:1:2:4::1': 'OK from fd00:1:2:4::1'
    })
  })
})
