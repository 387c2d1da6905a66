import { spawn } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { childEnv, track } from '../test/fixtures/children.ts'
import type { ChildProcess } from 'node:child_process'

/**
 * Busy-loop processes that keep `share` of this machine's cores busy (0.75
 * on 2 cores: one process spinning all the time and one half of every
 * 100 ms), for benchmarks that must hold under load. Each process is killed
 * by {@link CpuLoad.stop}, and with this process however it ends.
 */
export interface CpuLoad {
  /** how many cores' worth of busy loops run */
  cores: number
  /** kills the busy loops and waits for them to exit */
  stop(): Promise<void>
}

/** the busy part of every 100 ms period, as a process that spins that share of one core */
function burner (duty: number): ChildProcess {
  const busy = Math.round(duty * 100)
  const code = `const busy = ${busy}; setInterval(() => { const end = Date.now() + busy; while (Date.now() < end); }, 100)`
  const proc = spawn(process.execPath, ['-e', code], { env: childEnv(), stdio: 'ignore' })
  proc.on('error', err => {
    process.stderr.write(`a busy loop failed: ${err.message}\n`)
  })
  track(proc)
  return proc
}

/**
 * Starts busy loops for `share` (0-1) of the machine's cores.
 */
export function startCpuLoad (share: number): CpuLoad {
  const cores = Math.max(0, Math.min(1, share)) * availableParallelism()
  const procs: ChildProcess[] = []

  for (let left = cores; left > 0.01; left -= 1) {
    // a busy period of 100 ms would starve its timer: 99 at most
    procs.push(burner(Math.min(0.99, left)))
  }

  return {
    cores,
    stop: async () => {
      await Promise.all(procs.map(async proc => new Promise<void>(resolve => {
        if (proc.pid == null || proc.exitCode != null || proc.signalCode != null) {
          resolve()
          return
        }

        proc.once('exit', () => { resolve() })
        proc.kill('SIGKILL')
      })))
    }
  }
}
