import { createClient, createRelay, reserve } from './fixtures.ts'
import { echo } from '@libp2p/utils'

describe('debug', function () {
  it('circuits', async () => {
    const relay = await createRelay()
    const [a, b] = await Promise.all([createClient(), createClient()])
    await b.handle('/e', async (s) => { await echo(s) }, { runOnLimitedConnection: true })
    relay.relay.addEventListener('relay:opened-circuit', (evt) => { console.log('opened', evt.detail.source.toString() === a.peerId.toString() ? 'a' : 'b', '->', evt.detail.destination.toString() === b.peerId.toString() ? 'b' : 'a', new Error().stack?.split('\n').slice(0, 0)) })
    relay.relay.addEventListener('relay:closed-circuit', (evt) => { console.log('closed', evt.detail.error?.name, evt.detail.sent, evt.detail.received) })
    const bAddr = await reserve(b, relay)
    console.log('a', a.peerId.toString(), 'b', b.peerId.toString())
    await a.dialProtocol(bAddr, '/e', { runOnLimitedConnection: true })
    await new Promise(r => setTimeout(r, 1500))
    console.log(a.getConnections().map(c => `${c.remotePeer} ${c.remoteAddr} ${c.direction}`))
    console.log(b.getConnections().map(c => `${c.remotePeer} ${c.remoteAddr} ${c.direction}`))
    await Promise.all([a.stop(), b.stop(), relay.node.stop()])
  })
})
