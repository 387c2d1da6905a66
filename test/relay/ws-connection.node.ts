import { once } from 'node:events'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import pWaitFor from 'p-wait-for'
import { Uint8ArrayList } from 'uint8arraylist'
import { WebSocket, WebSocketServer } from 'ws'
import { webSocketToMaConn } from '../../relay/websockets/connection.ts'
import type { AbstractMultiaddrConnection } from '@libp2p/utils'
import type { AddressInfo } from 'node:net'

describe('relay websockets: connection sends', () => {
  let server: WebSocketServer
  let client: WebSocket
  let conn: AbstractMultiaddrConnection
  let received: Buffer[]

  beforeEach(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await once(server, 'listening')
    const accepted = once(server, 'connection')
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`)
    received = []
    client.on('message', (data: Buffer) => { received.push(data) })
    const [socket] = await accepted as [WebSocket]
    await once(client, 'open')
    conn = webSocketToMaConn({ websocket: socket, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1/ws'), log: defaultLogger().forComponent('test') })
  })

  afterEach(async () => {
    client.terminate()
    server.clients.forEach(socket => { socket.terminate() })
    server.close()
  })

  it('joins what is sent in one tick into one message, in order', async () => {
    conn.send(new Uint8ArrayList(Uint8Array.of(1, 2), Uint8Array.of(3)))
    conn.send(Uint8Array.of(4))
    conn.send(new Uint8ArrayList(Uint8Array.of(5), Uint8Array.of(6, 7)))

    await pWaitFor(() => received.length > 0)
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(received.map(b => [...b])).to.deep.equal([[1, 2, 3, 4, 5, 6, 7]])
  })

  it('sends at once, piece by piece, what reaches 64 KiB, and the rest on the next tick', async () => {
    const big = new Uint8Array(64 * 1024).fill(9)
    conn.send(Uint8Array.of(1))
    conn.send(big)
    conn.send(Uint8Array.of(2))

    await pWaitFor(() => received.length >= 3)
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(received.map(b => b.byteLength)).to.deep.equal([1, big.byteLength, 1])
    expect([received[0][0], received[1][0], received[2][0]]).to.deep.equal([1, 9, 2])
  })

  it('sends what is pending before it closes', async () => {
    conn.send(Uint8Array.of(1, 2, 3))
    const closed = once(client, 'close')
    await conn.close()
    await closed
    expect(received.map(b => [...b])).to.deep.equal([[1, 2, 3]])
  })
})
