#!/usr/bin/env node
/**
 * The `relaymesh-chat` command. See `examples/cli-chat/README.md`.
 */
import { createInterface } from 'node:readline'
import { cleanup } from 'node-datachannel'
import { USAGE, parseChatArgs, startChat } from './chat.ts'
import type { Chat } from './chat.ts'

const STOP_DEADLINE_MS = 3000

function exit (code: number): never {
  cleanup()
  process.exit(code)
}

let options

try {
  options = parseChatArgs(process.argv.slice(2), process.env)
} catch (err: any) {
  process.stderr.write(`relaymesh-chat: ${err.message}\n${USAGE}\n`)
  exit(2)
}

if (options === 'help') {
  process.stdout.write(`${USAGE}\n`)
  exit(0)
}

let chat: Chat

try {
  chat = await startChat(options, line => { process.stdout.write(`${line}\n`) })
} catch (err: any) {
  process.stderr.write(`relaymesh-chat: ${err.message}\n`)
  exit(1)
}

let stopping = false
const stop = (): void => {
  if (stopping) {
    return
  }

  stopping = true
  setTimeout(() => { exit(0) }, STOP_DEADLINE_MS).unref()
  chat.stop().catch(() => {}).finally(() => { exit(0) })
}

process.on('SIGINT', stop)
process.on('SIGTERM', stop)

const lines = createInterface({ input: process.stdin })
lines.on('line', line => {
  if (line.trim() === '') {
    return
  }

  chat.input(line).catch((err: Error) => {
    process.stderr.write(`relaymesh-chat: could not send: ${err.message}\n`)
  })
})
lines.on('close', stop)
