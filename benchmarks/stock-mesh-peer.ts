/**
 * A stock js-libp2p WebRTC peer in its own process, for the mesh benchmark
 * (see `spawnStockPeer` in `stock-mesh.ts`). It reserves on `RELAY_ADDR` and
 * prints JSON lines on stdout: `started` once the node runs, `ready` with its
 * `/p2p-circuit/webrtc` address, `dialed` with the outcome of each `dial
 * <multiaddr>` command read from stdin, and `webrtc:open`, `connection:close`
 * and `peer:disconnect` as they happen. SIGTERM, `stop` or the end of stdin
 * stop it.
 */
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { stopOnSignals } from '../test/fixtures/child-stop.ts'
import { readCommands } from '../test/fixtures/json-lines.ts'
import { createStockMeshNode, dialWebRTC, reserve } from './stock-mesh.ts'

function print (line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`)
}

const node = await createStockMeshNode()

const stop = stopOnSignals(node)

node.addEventListener('connection:open', (evt) => {
  if (WebRTC.matches(evt.detail.remoteAddr)) {
    print({ event: 'webrtc:open', peerId: evt.detail.remotePeer.toString() })
  }
})
node.addEventListener('connection:close', (evt) => {
  print({ event: 'connection:close', peerId: evt.detail.remotePeer.toString(), webrtc: WebRTC.matches(evt.detail.remoteAddr) })
})
node.addEventListener('peer:disconnect', (evt) => {
  print({ event: 'peer:disconnect', peerId: evt.detail.toString() })
})

print({ event: 'started', peerId: node.peerId.toString() })
const webrtcAddr = await reserve(node, process.env.RELAY_ADDR ?? '', 60_000)
print({ event: 'ready', peerId: node.peerId.toString(), webrtcAddr })

readCommands((line) => {
  const [command, arg] = line.split(' ')

  if (command === 'dial') {
    const peerId = arg.split('/p2p/').pop()
    void dialWebRTC(node, arg).then(outcome => { print({ event: 'dialed', peerId, outcome }) })
  } else if (command === 'stop') {
    stop()
  }
}, stop)
