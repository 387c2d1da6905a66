import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { expect } from 'aegir/chai'
import { TS_NODE_ARGS, childEnv, track } from '../fixtures/children.ts'

const WATCHDOG = pathToFileURL(new URL('../fixtures/native-watchdog.ts', import.meta.url).pathname).href

interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** runs `body` after importing the watchdog in a child Node process with a 3 s limit */
async function runChild (body: string): Promise<ChildResult> {
  const script = `import { stopNativeWatchdog } from '${WATCHDOG}'\n${body}`
  const proc = spawn(process.execPath, [...TS_NODE_ARGS, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...childEnv(), RELAYMESH_TEST_WATCHDOG_SECONDS: '3' }
  })
  track(proc)
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
  proc.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
  return new Promise(resolve => {
    proc.on('close', (code, signal) => { resolve({ code, signal, stdout, stderr }) })
  })
}

/** whether `pid` still runs: a killed process whose new parent has not reaped it yet (a zombie) does not */
function running (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

describe('test watchdog (a main thread stuck in native code)', function () {
  this.timeout(90_000)

  it('kills a process whose main thread does not run, and the processes it started, and says why', async () => {
    // a grandchild that would outlive a SIGKILLed parent; then Atomics.wait
    // blocks the main thread as a native deadlock does: no timer runs
    const result = await runChild([
      "const { spawn } = await import('node:child_process')",
      "const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' })",
      "process.stdout.write(String(sleeper.pid) + '\\n')",
      'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000)',
      'await stopNativeWatchdog()'
    ].join('\n'))
    expect(result.signal).to.equal('SIGKILL')
    expect(result.stderr).to.include('[test watchdog] the main thread has not run for 3 s')
    const sleeper = Number(result.stdout.trim())
    expect(sleeper).to.be.above(0)
    expect(running(sleeper), 'the grandchild is gone').to.be.false()
  })

  it('lets a process whose main thread runs go on past the limit, and exit by itself once stopped', async () => {
    const result = await runChild('await new Promise(resolve => setTimeout(resolve, 8000))\nawait stopNativeWatchdog()')
    expect(result.signal).to.be.null()
    expect(result.code).to.equal(0)
    expect(result.stderr).to.not.include('watchdog')
  })
})
