/**
 * The CPU a forming room costs: `N` members (default 20) in this process
 * join one room through the relay program, and the script prints the wall
 * time until every pair is direct and the process's CPU time (user + system)
 * spent on it. CPU is steadier than wall time on this 2-core VM, so option
 * changes are compared with it; run it under `--cpu-prof` to see where it goes.
 * Run: `MESH_INIT='{"heartbeatInterval":500}' node --experimental-transform-types benchmarks/formation-cpu.ts`.
 * `MESH_INIT` (JSON) gives every member other mesh options. Loopback only.
 */
import pWaitFor from 'p-wait-for'
import { createMeshNode } from '../src/index.ts'
import { testNodeInit } from '../test/fixtures/options.ts'
import { startRelayProcess } from '../test/fixtures/relay-process.ts'
import { MESH_RELAY_ARGS } from './mesh.ts'

const n = Number(process.env.N ?? 20)
const mesh = process.env.MESH_INIT == null || process.env.MESH_INIT === '' ? undefined : JSON.parse(process.env.MESH_INIT)
const relay = await startRelayProcess(MESH_RELAY_ARGS)

try {
  const nodes = await Promise.all(Array.from({ length: n }, async () => createMeshNode(testNodeInit({ bootstrap: [relay.wsAddr], mesh }))))
  const cpuBefore = process.cpuUsage()
  const start = performance.now()
  const rooms = await Promise.all(nodes.map(async node => node.services.mesh.join('formation-cpu')))
  await pWaitFor(() => rooms.every(room => room.members.length === n - 1 && room.members.every(m => m.state === 'direct')), { timeout: 120_000, interval: 20 })
  const cpu = process.cpuUsage(cpuBefore)
  const cpuMs = (cpu.user + cpu.system) / 1000
  process.stdout.write(`${JSON.stringify({ members: n, mesh, allDirectMs: Math.round(performance.now() - start), cpuMs: Math.round(cpuMs), cpuMsPerPair: Math.round(cpuMs / (n * (n - 1) / 2)) })}\n`)
  await Promise.all(nodes.map(async node => node.stop()))
} finally {
  await relay.stop()
}

// node-datachannel's threads would keep the process alive
process.exit(0)
