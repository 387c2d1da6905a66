import '../fixtures/datachannel-cleanup.ts'
import { readFile } from 'node:fs/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import pWaitFor from 'p-wait-for'
import * as varint from 'uint8-varint'
import { DEFAULT_RELAY_OPTIONS } from '../../relay/constants.ts'
import { withProviderQuotas } from '../../relay/dht-quotas.ts'
import { DEFAULT_DHT_PROTOCOL } from '../../src/constants.ts'
import { relaymeshDHT } from '../../src/relays/index.ts'
import { relayNamespaceCid } from '../../src/relays/namespace.ts'
import { freePort } from '../fixtures/delay-proxy.ts'
import { stopNodes } from '../fixtures/options.ts'
import { Message, MessageType } from '../fixtures/pb/kad-dht.ts'
import { startRelayProcess } from '../fixtures/relay-process.ts'
import { createRawNode } from '../relay-server/fixtures.ts'
import type { RelayProcess } from '../fixtures/relay-process.ts'
import type { Libp2p } from '@libp2p/interface'
import type { KadDHTComponents } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'

/** the key kad-dht puts in its messages: the CID's multihash */
async function keyOf (text: string): Promise<Uint8Array<ArrayBuffer>> {
  return (await sha256.digest(new TextEncoder().encode(text))).bytes as Uint8Array<ArrayBuffer>
}

function addProvider (node: Libp2p, key: Uint8Array<ArrayBuffer>, addrs = 1): Message {
  return {
    type: MessageType.ADD_PROVIDER,
    key,
    closer: [],
    providers: [{
      id: node.peerId.toMultihash().bytes,
      multiaddrs: Array.from({ length: addrs }, (_, i) => multiaddr(`/ip4/10.1.${(i >> 8) & 255}.${i & 255}/tcp/22`).bytes)
    }]
  }
}

/**
 * Sends `count` ADD_PROVIDER messages on one stream as fast as the stream
 * takes them, keys from `key(i)`; returns how many were written before the
 * relay ended the stream
 */
async function flood (node: Libp2p, relay: Multiaddr, count: number, key: (i: number) => Promise<Uint8Array<ArrayBuffer>>, addrs = 1): Promise<number> {
  const stream = await node.dialProtocol(relay, DEFAULT_DHT_PROTOCOL)
  const pb = pbStream(stream).pb(Message)
  let written = 0

  try {
    for (let i = 0; i < count; i++) {
      await pb.write(addProvider(node, await key(i), addrs), { signal: AbortSignal.timeout(10_000) })
      written++
    }
    await stream.close()
  } catch {
    stream.abort(new Error('done'))
  }

  return written
}

/** the providers the relay answers GET_PROVIDERS for `key` with */
async function getProviders (node: Libp2p, relay: Multiaddr, key: Uint8Array<ArrayBuffer>): Promise<Message['providers']> {
  const stream = await node.dialProtocol(relay, DEFAULT_DHT_PROTOCOL)
  const pb = pbStream(stream).pb(Message)
  await pb.write({ type: MessageType.GET_PROVIDERS, key, closer: [], providers: [] })
  const response = await pb.read({ signal: AbortSignal.timeout(10_000) })
  await stream.close()

  return response.providers
}

async function rssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) / 1024
}

describe('relay program: DHT provider record quotas', function () {
  this.timeout(120_000)
  let relay: RelayProcess | undefined
  let nodes: Libp2p[] = []

  afterEach(async () => {
    await stopNodes(nodes)
    nodes = []
    await relay?.stop('SIGKILL')
    relay = undefined
  })

  async function start (flags: string[]): Promise<{ addr: Multiaddr, metric(name: string, labels?: string): Promise<number> }> {
    const metricsPort = await freePort()
    relay = await startRelayProcess([...flags, '--metrics-port', `${metricsPort}`])

    return {
      addr: multiaddr(relay.tcpAddr),
      async metric (name, labels) {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
        const sample = labels == null ? name : `${name}{${labels}}`
        const line = text.split('\n').find(l => l.startsWith(`${sample} `))
        return line == null ? 0 : Number(line.split(' ').pop())
      }
    }
  }

  async function node (): Promise<Libp2p> {
    const n = await createRawNode()
    nodes.push(n)
    return n
  }

  it('20,000 ADD_PROVIDER messages on one stream: the relay keeps at most the per-peer quota, stays small, and honest providers still work', async () => {
    const { addr, metric } = await start([])
    const attacker = await node()
    const honest = await node()
    const room = await keyOf('room lobby')
    const namespace = (await relayNamespaceCid()).multihash.bytes as Uint8Array<ArrayBuffer>

    // the relay writes its own record once started; waiting for it also puts
    // a connection and the DHT at work in the baseline
    await pWaitFor(async () => (await getProviders(attacker, addr, namespace)).length === 1, { timeout: 20_000, interval: 100 })
    const before = await rssMiB(relay!.process.pid!)
    const began = Date.now()

    const written = await flood(attacker, addr, 20_000, async i => keyOf(`junk ${i}`), 8)
    const elapsed = Date.now() - began
    const after = await rssMiB(relay!.process.pid!)

    // the relay ends the stream at the first refused record
    expect(written).to.be.below(20_000)
    expect(await metric('relaymesh_dht_provider_records')).to.equal(DEFAULT_RELAY_OPTIONS.dhtMaxProvidersPerPeer)
    expect(await metric('relaymesh_dht_provider_refusals_total', 'reason="providers_per_peer"')).to.be.at.least(1)
    // stock: +169 MiB for the same flood; garbage not yet collected (the
    // flood's messages and streams) counts too, so the bound is wide
    expect(after - before).to.be.below(64, `RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB`)
    process.stderr.write(`      [dht quotas] ${written} of 20000 written in ${elapsed} ms; relay RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB\n`)

    // one record's addresses are bounded too: the attacker sent 8 per message
    const junk = await getProviders(honest, addr, await keyOf('junk 0'))
    expect(junk).to.have.lengthOf(1)
    expect(junk[0].multiaddrs.length).to.be.at.most(16)

    // an honest peer provides a room and is found; the relay's namespace record is there
    expect(await flood(honest, addr, 1, async () => room)).to.equal(1)
    await pWaitFor(async () => (await getProviders(attacker, addr, room)).length === 1, { timeout: 10_000 })
    const providers = await getProviders(attacker, addr, room)
    expect(providers[0].id).to.equalBytes(honest.peerId.toMultihash().bytes)
    const relays = await getProviders(honest, addr, namespace)
    expect(relays).to.have.lengthOf(1)
    expect(relays[0].id).to.equalBytes(peerIdFromString(relay!.peerId).toMultihash().bytes)
  })

  it('20,000 ADD_PROVIDER messages across 200 streams of 10 peers: per-key, total and rate quotas hold', async () => {
    const maxProviders = 150
    const perKey = 5
    const { addr, metric } = await start([
      '--dht-max-providers', `${maxProviders}`,
      '--dht-max-providers-per-key', `${perKey}`,
      '--dht-max-providers-per-peer', '100',
      '--dht-provide-rate', '40'
    ])
    const attackers = await Promise.all(Array.from({ length: 10 }, async () => node()))
    const shared = await keyOf('shared room')
    let written = 0

    // each peer: 20 streams of 100 messages, every tenth for one shared key
    await Promise.all(attackers.map(async (attacker, a) => {
      for (let s = 0; s < 20; s++) {
        written += await flood(attacker, addr, 100, async i => i % 10 === 0 ? shared : keyOf(`junk ${a} ${s} ${i}`))
      }
    }))

    expect(written).to.be.below(20_000)
    const records = await metric('relaymesh_dht_provider_records')
    expect(records).to.be.at.most(maxProviders)
    expect(records).to.be.at.least(maxProviders - 10)
    expect(await getProviders(attackers[0], addr, shared)).to.have.lengthOf(perKey)
    for (const reason of ['max_providers', 'providers_per_key', 'rate_limit']) {
      expect(await metric('relaymesh_dht_provider_refusals_total', `reason="${reason}"`), reason).to.be.at.least(1)
    }

    // the relay's own record is never refused
    expect(await getProviders(attackers[0], addr, (await relayNamespaceCid()).multihash.bytes as Uint8Array<ArrayBuffer>)).to.have.lengthOf(1)
  })

  it('keeps at most --dht-max-providers-per-ip records for providers from one IP, however many peer ids it uses', async () => {
    const { addr, metric } = await start(['--dht-max-providers-per-ip', '50'])
    const attackers = await Promise.all(Array.from({ length: 5 }, async () => node()))

    // 5 peer ids × 20 records, each peer within its own quota (32)
    await Promise.all(attackers.map(async (attacker, a) => flood(attacker, addr, 20, async i => keyOf(`ip ${a} ${i}`))))

    // a refusal means the quota was reached; records count from their
    // admission, so concurrent streams cannot overshoot it, and none expire
    await pWaitFor(async () => await metric('relaymesh_dht_provider_refusals_total', 'reason="providers_per_ip"') >= 1, { timeout: 20_000, interval: 100 })
    expect(await metric('relaymesh_dht_provider_records')).to.equal(50)
  })

  it('keeps at most --dht-max-providers-per-key-per-ip providers of one key from one IP: one host cannot squat a room', async () => {
    const { addr, metric } = await start(['--dht-max-providers-per-key-per-ip', '3'])
    const attackers = await Promise.all(Array.from({ length: 6 }, async () => node()))
    const room = await keyOf('room squatted')
    const other = await keyOf('room other')

    // one after the other, so the refusals are certain
    for (const attacker of attackers) {
      await flood(attacker, addr, 1, async () => room)
    }

    await pWaitFor(async () => await metric('relaymesh_dht_provider_refusals_total', 'reason="providers_per_key_per_ip"') === 3, { timeout: 20_000, interval: 100 })
    expect(await getProviders(attackers[0], addr, room)).to.have.lengthOf(3)
    // the same peers still provide other keys
    expect(await flood(attackers[5], addr, 1, async () => other)).to.equal(1)
    await pWaitFor(async () => (await getProviders(attackers[0], addr, other)).length === 1, { timeout: 10_000, interval: 100 })
  })

  it('forgets a provider record --dht-provider-ttl seconds after it was received', async () => {
    const { addr, metric } = await start(['--dht-provider-ttl', '1'])
    const [provider, asker] = await Promise.all([node(), node()])
    const room = await keyOf('room ttl')

    expect(await flood(provider, addr, 1, async () => room)).to.equal(1)
    await pWaitFor(async () => (await getProviders(asker, addr, room)).length === 1, { timeout: 10_000 })
    const stored = Date.now()

    await pWaitFor(async () => (await getProviders(asker, addr, room)).length === 0, { timeout: 10_000, interval: 200 })
    expect(Date.now() - stored).to.be.below(5000)
    // and deletes it (queries sweep at most once a second)
    await pWaitFor(async () => (await getProviders(asker, addr, room)).length === 0 && await metric('relaymesh_dht_provider_records') === 0, { timeout: 10_000, interval: 300 })
  })
})

describe('DHT provider record quotas: concurrent writes', function () {
  this.timeout(60_000)
  let node: Libp2p | undefined
  let components: KadDHTComponents

  beforeEach(async () => {
    node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      services: {
        identify: identify(),
        ping: ping(),
        // the views withProviderQuotas gives kad-dht, as kad-dht uses them
        dht: withProviderQuotas((c) => { components = c; return relaymeshDHT('server', { allowQueryWithZeroPeers: true })(c) }, { maxProvidersPerPeer: 3 })
      }
    })
  })

  afterEach(async () => {
    await node?.stop()
    node = undefined
  })

  it('counts a record from its admission: 20 concurrent puts of one provider keep its quota of 3', async () => {
    const provider = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const results = await Promise.allSettled(Array.from({ length: 20 }, async (_, i) => {
      const cid = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode(`race ${i}`)))
      const key = new Key(`/relaymesh/dht/provider/${cid.toString()}/${provider}`)
      return components.datastore.put(key, varint.encode(Date.now()))
    }))

    expect(results.filter(r => r.status === 'fulfilled')).to.have.lengthOf(3)
    expect(results.filter(r => r.status === 'rejected').map(r => (r as PromiseRejectedResult).reason.name)).to.deep.equal(new Array(17).fill('ProviderQuotaError'))
    const stored: string[] = []
    for await (const pair of components.datastore.query({ prefix: '/relaymesh/dht/provider/' })) {
      stored.push(pair.key.toString())
    }
    expect(stored).to.have.lengthOf(3)
  })

  it('merges the addresses of one provider one after the other: 10 concurrent merges of 10 keep 16', async () => {
    const provider = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

    await Promise.all(Array.from({ length: 10 }, async (_, m) => components.peerStore.merge(provider, {
      multiaddrs: Array.from({ length: 10 }, (_, i) => multiaddr(`/ip4/10.2.${m}.${i}/tcp/22`))
    })))

    expect((await node!.peerStore.get(provider)).addresses).to.have.lengthOf(16)
  })
})
