/**
 * Imported first by `bin.ts`, so it runs before libp2p's logger (weald)
 * loads. Unless `DEBUG_COLORS` is set, weald asks whether stderr is a
 * terminal (an `isatty` system call) for every logger it creates, and libp2p
 * creates several for every stream: on a relay with thousands of clients,
 * whose connection monitors open a ping stream every 10 s, that was the
 * largest single item of a CPU profile. Deciding once here gives the same
 * colors.
 */
import { isatty } from 'node:tty'

process.env.DEBUG_COLORS ??= isatty(process.stderr.fd) ? 'true' : 'false'
