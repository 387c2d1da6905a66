/**
 * Exponential backoff with full jitter: a random delay in
 * [0, min(max, initial * 2^(failures-1))].
 */
export function backoff (failures: number, initial: number, max: number): number {
  const ceiling = Math.min(max, initial * 2 ** Math.min(64, Math.max(0, failures - 1)))
  return Math.floor(Math.random() * ceiling)
}
