import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { TS_NODE_ARGS, childEnv } from '../fixtures/children.ts'

const run = promisify(execFile)

/**
 * Creates 100 stream-scoped libp2p loggers in a fresh process, after
 * importing `first` when given, and returns how often `isatty` was called.
 */
async function isattyCalls (first?: string): Promise<number> {
  const code = `
    import tty from 'node:tty'
    let calls = 0
    const isatty = tty.isatty
    tty.isatty = (fd) => { calls++; return isatty(fd) }
    ${first != null ? `await import(${JSON.stringify(first)})` : ''}
    const { defaultLogger } = await import('@libp2p/logger')
    const log = defaultLogger().forComponent('relaymesh:test')
    for (let i = 0; i < 100; i++) log.newScope('stream-' + i)
    process.stdout.write(String(calls))
  `
  const { DEBUG_COLORS, ...env } = childEnv()
  const { stdout } = await run(process.execPath, [...TS_NODE_ARGS, '--input-type=module', '-e', code], { env, cwd: new URL('../..', import.meta.url).pathname })
  return Number(stdout)
}

describe('relay program: logger colors', function () {
  this.timeout(30_000)

  it('decides on colors once, not with an isatty call for every logger', async () => {
    // without it, weald asks for every logger libp2p creates (several per stream)
    expect(await isattyCalls()).to.be.at.least(100)
    expect(await isattyCalls(new URL('../../relay/log-colors.ts', import.meta.url).href)).to.be.at.most(2)

    // and the program loads it before anything that loads libp2p
    const bin = await readFile(new URL('../../relay/bin.ts', import.meta.url), 'utf8')
    expect(bin.match(/^import .*$/m)?.[0]).to.equal("import './log-colors.ts'")
  })
})
