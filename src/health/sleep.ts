/**
 * Resolves after `ms`, or at once when `signal` aborts (also when it already
 * has). `onWake`, when given, receives a function that ends the wait early.
 */
export async function sleep (ms: number, signal: AbortSignal, onWake?: (wake: () => void) => void): Promise<void> {
  if (signal.aborted) {
    // an abort listener added now would never fire
    return
  }

  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done)
    onWake?.(done)
  })
}
