import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { relayWebSockets } from '../../relay/websockets/index.ts'
import type { RelayWebSocketsComponents } from '../../relay/websockets/index.ts'

describe('relay websockets: listener lifecycle', () => {
  it('removes its certificate:renew listener when closed, so restarts do not pile them up', async () => {
    let components: RelayWebSocketsComponents | undefined
    const node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0/ws'] },
      transports: [(c: RelayWebSocketsComponents) => {
        components = c
        return relayWebSockets()(c)
      }],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()]
    })
    const renewListeners = (): number => components?.events.listenerCount('certificate:renew') ?? -1
    const before = await (async () => { await node.stop(); return renewListeners() })()

    for (let i = 0; i < 3; i++) {
      await node.start()
      expect(node.getMultiaddrs()).to.have.lengthOf(1)
      expect(renewListeners()).to.equal(before + 1)
      await node.stop()
      expect(renewListeners()).to.equal(before)
    }
  })
})
