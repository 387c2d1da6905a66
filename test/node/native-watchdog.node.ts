import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { expect } from 'aegir/chai'
import { TS_NODE_ARGS, childEnv, track } from '../fixtures/children.ts'

const WATCHDOG = pathToFileURL(new URL('../fixtures/native-watchdog.ts', import.meta.url).pathname).href

/** runs `body` after importing the watchdog in a child Node process with a 2 s limit */
async function runChild (body: string): Promise<{ code: number | null, signal: NodeJS.Signals | null, stderr: string, ms: number }> {
  const start = Date.now()
  const script = `import { stopNativeWatchdog } from '${WATCHDOG}'\n${body}`
  const proc = spawn(process.execPath, [...TS_NODE_ARGS, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...childEnv(), RELAYMESH_TEST_WATCHDOG_SECONDS: '2' }
  })
  track(proc)
  let stderr = ''
  proc.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
  return new Promise(resolve => {
    proc.on('close', (code, signal) => { resolve({ code, signal, stderr, ms: Date.now() - start }) })
  })
}

describe('test watchdog (a main thread stuck in native code)', function () {
  this.timeout(90_000)

  it('kills a process whose main thread does not run, and says why', async () => {
    // Atomics.wait blocks the main thread as a native deadlock does: no timer runs
    const result = await runChild('Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000)\nawait stopNativeWatchdog()')
    expect(result.signal).to.equal('SIGKILL')
    expect(result.stderr).to.include('[test watchdog] the main thread has not run for 2 s')
    expect(result.ms).to.be.below(55_000)
  })

  it('lets a process that runs exit by itself once stopped, and does not fire while timers run', async () => {
    const result = await runChild('await new Promise(resolve => setTimeout(resolve, 4000))\nawait stopNativeWatchdog()')
    expect(result.signal).to.be.null()
    expect(result.code).to.equal(0)
    expect(result.stderr).to.not.include('watchdog')
  })
})
