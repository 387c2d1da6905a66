/**
 * Memory hooks for benchmarks and profiling, off unless the environment turns
 * them on. With `RELAYMESH_DEBUG_MEMORY=1`, SIGUSR2 makes the process collect
 * garbage fully and print one JSON line on stdout:
 * `{"event":"memory","rss":...,"heapUsed":...,"external":...,"arrayBuffers":...}`
 * with the resident bytes by mapping (`rssBrk`, `rssAnon`, `rssFile`, see
 * `residentByMapping`)
 * plus the counts `stats()` returns. With `RELAYMESH_DEBUG_HEAPSNAPSHOT_DIR`
 * set as well, it first writes a heap snapshot there and names it in the line
 * (`"snapshot"`).
 *
 * These variables do not start with `RELAYMESH_RELAY_`: they are not relay
 * settings, and the settings parser rejects unknown names with that prefix.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * Turns the memory hook on
 */
export const DEBUG_MEMORY_ENV = 'RELAYMESH_DEBUG_MEMORY'

/**
 * A folder: the memory hook writes a heap snapshot there each time
 */
export const DEBUG_HEAPSNAPSHOT_ENV = 'RELAYMESH_DEBUG_HEAPSNAPSHOT_DIR'

/** options of V8's `gc()` extension */
export interface GcOptions {
  type?: 'major' | 'minor'
  execution?: 'sync' | 'async'
  /**
   * `last-resort`: collect all available garbage and compact to give memory
   * back, what V8's memory reducer does on its own once a process goes quiet
   */
  flavor?: 'regular' | 'last-resort'
}

/** V8's collector, exposed at run time (no `--expose-gc` needed) */
function exposeGc (): (options?: GcOptions) => void {
  setFlagsFromString('--expose_gc')
  return runInNewContext('gc')
}

/**
 * Collects garbage until freed array buffers are released too (V8 frees
 * their backing stores in the background), then reads the memory usage.
 * The first collection compacts the heap as V8's memory reducer does when
 * the process goes quiet (`last-resort`): a relay after a burst of
 * admissions otherwise still holds the free pages the burst left, which
 * the reducer gives back some seconds later.
 */
export async function settledMemory (gc: (options?: GcOptions) => void): Promise<NodeJS.MemoryUsage> {
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })

  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise(resolve => setTimeout(resolve, 100))
  }

  return process.memoryUsage()
}

/**
 * Resident bytes by kind of mapping, from /proc/self/smaps (Linux; empty
 * elsewhere): `brk` is the C heap's main arena (malloc), `anon` other
 * anonymous mappings (V8's heap pages, large mallocs, other arenas),
 * `file` mapped files (code)
 */
export async function residentByMapping (): Promise<Record<'brk' | 'anon' | 'file', number>> {
  const out = { brk: 0, anon: 0, file: 0 }
  let kind: keyof typeof out | undefined

  try {
    for (const line of (await readFile('/proc/self/smaps', 'utf8')).split('\n')) {
      const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)

      if (mapping != null) {
        const name = mapping[1]
        kind = name === '[heap]' ? 'brk' : name === '' ? 'anon' : name.startsWith('/') ? 'file' : undefined
      } else if (kind != null && line.startsWith('Rss:')) {
        out[kind] += Number(line.split(/\s+/)[1]) * 1024
      }
    }
  } catch {}

  return out
}

/**
 * Installs the SIGUSR2 memory hook when `env` asks for it; returns whether it
 * did.
 */
export function installMemoryHook (stats: () => Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env[DEBUG_MEMORY_ENV] !== '1') {
    return false
  }

  const gc = exposeGc()
  const dir = env[DEBUG_HEAPSNAPSHOT_ENV]
  let busy = false

  process.on('SIGUSR2', () => {
    if (busy) {
      return
    }

    busy = true
    settledMemory(gc).then(async usage => {
      const resident = await residentByMapping()
      const snapshot = dir != null && dir !== '' ? writeHeapSnapshot(join(dir, `relay-${process.pid}-${Date.now()}.heapsnapshot`)) : undefined
      const line = { event: 'memory', ...usage, rssBrk: resident.brk, rssAnon: resident.anon, rssFile: resident.file, ...stats(), ...(snapshot != null ? { snapshot } : {}) }
      process.stdout.write(`${JSON.stringify(line)}\n`)
    }).catch((err: Error) => {
      process.stderr.write(`memory hook: ${err.message}\n`)
    }).finally(() => {
      busy = false
    })
  })

  return true
}
