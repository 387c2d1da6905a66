import { peerIdFromString } from '@libp2p/peer-id'
import { RateLimiter } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import { ProviderQuotaError } from './errors.ts'
import { ipKeyOf, isCircuit } from './server/utils.ts'
import type { AbortOptions, CounterGroup, Logger, PeerId, PeerStore } from '@libp2p/interface'
import type { KadDHT, KadDHTComponents } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { Key } from 'interface-datastore'
import type { Batch, Datastore, KeyQuery, Pair, Query } from 'interface-datastore'

const minuteInMs = 60_000
const hourInMs = 60 * minuteInMs

/**
 * Quotas on the provider records a DHT server keeps for other peers. Its own
 * records are never refused, expired or counted.
 */
export interface ProviderQuotasInit {
  /**
   * The `datastorePrefix` of the DHT (its records are under `<prefix>/provider`)
   *
   * @default '/relaymesh/dht'
   */
  datastorePrefix?: string

  /**
   * Provider records kept at once for all other peers
   *
   * @default 10_000
   */
  maxProviders?: number

  /**
   * Keys one peer may be a provider of at once
   *
   * @default 32
   */
  maxProvidersPerPeer?: number

  /**
   * Records kept at once for providers whose connection comes from one IP
   * address (an IPv6 /64 counting as one), so peer ids made up by one host
   * cannot fill `maxProviders`
   *
   * @default 1000
   */
  maxProvidersPerIp?: number

  /**
   * Providers kept for one key; the record of a further peer is refused
   * (providers already there renew theirs)
   *
   * @default 256
   */
  maxProvidersPerKey?: number

  /**
   * Providers kept for one key whose connections come from one IP address
   * (an IPv6 /64 counting as one), so one host with made-up peer ids cannot
   * fill a room's key
   *
   * @default 8
   */
  maxProvidersPerKeyPerIp?: number

  /**
   * How long a record is kept after it was last received, in ms; kad-dht
   * clients provide again every 24 to 25 hours
   *
   * @default 30 hours
   */
  providerTtl?: number

  /**
   * Provider records (new or renewed) one peer may store per minute
   *
   * @default 60
   */
  provideRate?: number

  /**
   * Addresses of a provider taken from its ADD_PROVIDER messages, in all
   * (kad-dht keeps them in the peer store and hands them out with the record)
   *
   * @default 16
   */
  maxProviderAddrs?: number

  /**
   * The longest address taken from an ADD_PROVIDER message, in bytes
   *
   * @default 256
   */
  maxProviderAddrBytes?: number
}

/**
 * Why a provider record was refused; also the `reason` label of
 * `relaymesh_dht_provider_refusals_total`
 */
export type ProviderRefusal = 'max_providers' | 'providers_per_peer' | 'providers_per_ip' | 'providers_per_key' | 'providers_per_key_per_ip' | 'rate_limit'

interface Entry {
  cid: string
  peer: string
  /** the per-IP key of the provider's connection when the record was stored */
  ip?: string
  /** when the record was stored, ms */
  time: number
}

/**
 * Wraps a kad-dht service factory so that the provider records it stores for
 * other peers stay within `init`'s quotas. The DHT gets a view of the
 * datastore that refuses records past a quota (kad-dht then aborts the
 * sender's stream: ADD_PROVIDER floods end at the quota) and hides and
 * deletes records past their TTL, and a view of the peer store that takes at
 * most `maxProviderAddrs` addresses of a provider. Nothing inside kad-dht is
 * changed.
 */
export function withProviderQuotas (dht: (components: KadDHTComponents) => KadDHT, init: ProviderQuotasInit = {}): (components: KadDHTComponents) => KadDHT {
  return (components) => {
    const datastore = new ProviderQuotaDatastore(components, init)
    const peerStore = boundedAddresses(components.peerStore, init)

    return dht(new Proxy(components, {
      get (target, prop, receiver) {
        if (prop === 'datastore') {
          return datastore
        }

        if (prop === 'peerStore') {
          return peerStore
        }

        return Reflect.get(target, prop, receiver)
      }
    }))
  }
}

/**
 * A datastore that passes everything through to the node's, and keeps an
 * index of the provider records under its prefix to enforce the quotas
 */
export class ProviderQuotaDatastore implements Datastore {
  private readonly inner: Datastore
  private readonly self: PeerId
  private readonly connectionManager: KadDHTComponents['connectionManager']
  private readonly log: Logger
  private readonly prefix: string
  private readonly maxProviders: number
  private readonly maxPerPeer: number
  private readonly maxPerIp: number
  private readonly maxPerKey: number
  private readonly maxPerKeyPerIp: number
  private readonly ttl: number
  private readonly rate: RateLimiter
  private readonly entries = new Map<string, Entry>()
  private readonly perPeer = new Map<string, number>()
  private readonly perIp = new Map<string, number>()
  private readonly perKey = new Map<string, number>()
  /** keyed by `<cid> <ip key>` */
  private readonly perKeyIp = new Map<string, number>()
  private readonly refusals?: CounterGroup<ProviderRefusal>
  private loaded?: Promise<void>
  private lastSweep = 0

  constructor (components: KadDHTComponents, init: ProviderQuotasInit) {
    this.inner = components.datastore
    this.self = components.peerId
    this.connectionManager = components.connectionManager
    this.log = components.logger.forComponent('relaymesh:relay:dht-quotas')
    this.prefix = `${init.datastorePrefix ?? '/relaymesh/dht'}/provider/`
    this.maxProviders = init.maxProviders ?? 10_000
    this.maxPerPeer = init.maxProvidersPerPeer ?? 32
    this.maxPerIp = init.maxProvidersPerIp ?? 1000
    this.maxPerKey = init.maxProvidersPerKey ?? 256
    this.maxPerKeyPerIp = init.maxProvidersPerKeyPerIp ?? 8
    this.ttl = init.providerTtl ?? 30 * hourInMs
    this.rate = new RateLimiter({ points: init.provideRate ?? 60, duration: 60, keyPrefix: '' })
    this.refusals = components.metrics?.registerCounterGroup('relaymesh_dht_provider_refusals_total', {
      label: 'reason',
      help: 'Provider records of other peers refused by a quota, by reason'
    })
    components.metrics?.registerMetric('relaymesh_dht_provider_records', {
      help: 'Provider records kept for other peers',
      calculate: () => this.entries.size
    })
  }

  /** provider records kept for other peers now */
  get size (): number {
    return this.entries.size
  }

  async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const entry = this.parse(key, value)

    if (entry == null) {
      return this.inner.put(key, value, options)
    }

    await this.load()
    // the record counts from here, so concurrent puts see it
    const undo = await this.admit(key.toString(), entry)

    try {
      return await this.inner.put(key, value, options)
    } catch (err) {
      undo()
      throw err
    }
  }

  async delete (key: Key, options?: AbortOptions): Promise<void> {
    await this.inner.delete(key, options)
    this.unindex(key.toString())
  }

  async * query (query: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    const providers = query.prefix?.startsWith(this.prefix) === true

    if (providers) {
      await this.load()
      await this.sweep()
    }

    for await (const pair of this.inner.query(query, options)) {
      const entry = providers ? this.entries.get(pair.key.toString()) : undefined

      // expired since the sweep
      if (entry != null && this.expired(entry, Date.now())) {
        continue
      }

      yield pair
    }
  }

  get (key: Key, options?: AbortOptions): Uint8Array | Promise<Uint8Array> {
    return this.inner.get(key, options)
  }

  has (key: Key, options?: AbortOptions): boolean | Promise<boolean> {
    return this.inner.has(key, options)
  }

  // kad-dht writes provider records one by one with put(); these pass through
  putMany (source: Parameters<Datastore['putMany']>[0], options?: AbortOptions): ReturnType<Datastore['putMany']> {
    return this.inner.putMany(source, options)
  }

  getMany (source: Parameters<Datastore['getMany']>[0], options?: AbortOptions): ReturnType<Datastore['getMany']> {
    return this.inner.getMany(source, options)
  }

  deleteMany (source: Parameters<Datastore['deleteMany']>[0], options?: AbortOptions): ReturnType<Datastore['deleteMany']> {
    return this.inner.deleteMany(source, options)
  }

  batch (): Batch {
    return this.inner.batch()
  }

  queryKeys (query: KeyQuery, options?: AbortOptions): ReturnType<Datastore['queryKeys']> {
    return this.inner.queryKeys(query, options)
  }

  /**
   * Throws a {@link ProviderQuotaError} if the record may not be stored;
   * otherwise indexes it at once (checks and count with no await between
   * them) and returns what takes it out again if the write fails
   */
  private async admit (key: string, entry: Entry): Promise<() => void> {
    if (entry.peer === this.self.toString()) {
      return () => {}
    }

    let reason: ProviderRefusal | undefined

    try {
      this.rate.consume(entry.peer)
    } catch {
      reason = 'rate_limit'
    }

    if (reason == null) {
      entry.ip = this.ipOf(entry.peer)
      reason = this.refusal(key, entry)

      if (reason === 'max_providers') {
        await this.sweep(true)
        reason = this.refusal(key, entry)
      }
    }

    if (reason != null) {
      this.refusals?.increment({ [reason]: true })
      this.log('refused a provider record of %s for %s (%s)', entry.peer, entry.cid, reason)
      throw new ProviderQuotaError(`provider record refused: ${reason}`, reason)
    }

    const existing = this.entries.get(key)
    this.index(key, entry)

    return () => {
      if (this.entries.get(key) !== entry) {
        return
      }

      this.unindex(key)

      if (existing != null) {
        this.index(key, existing)
      }
    }
  }

  /**
   * The quota a new record would pass, if any (renewals pass)
   */
  private refusal (key: string, entry: Entry): ProviderRefusal | undefined {
    if (this.entries.has(key)) {
      return
    }

    if ((this.perPeer.get(entry.peer) ?? 0) >= this.maxPerPeer) {
      return 'providers_per_peer'
    }

    if (entry.ip != null && (this.perIp.get(entry.ip) ?? 0) >= this.maxPerIp) {
      return 'providers_per_ip'
    }

    if ((this.perKey.get(entry.cid) ?? 0) >= this.maxPerKey) {
      return 'providers_per_key'
    }

    if (entry.ip != null && (this.perKeyIp.get(`${entry.cid} ${entry.ip}`) ?? 0) >= this.maxPerKeyPerIp) {
      return 'providers_per_key_per_ip'
    }

    if (this.entries.size >= this.maxProviders) {
      return 'max_providers'
    }
  }

  /**
   * The CID and provider of a provider record key, if it is one of another peer
   */
  private parse (key: Key, value: Uint8Array): Entry | undefined {
    const text = key.toString()

    if (!text.startsWith(this.prefix)) {
      return
    }

    const [cid, peer] = text.slice(this.prefix.length).split('/')

    if (cid == null || peer == null) {
      return
    }

    let time = Date.now()

    try {
      time = varint.decode(value)
    } catch {}

    return { cid, peer, time }
  }

  private index (key: string, entry: Entry): void {
    if (entry.peer === this.self.toString()) {
      return
    }

    const existing = this.entries.get(key)

    if (existing == null) {
      this.perPeer.set(entry.peer, (this.perPeer.get(entry.peer) ?? 0) + 1)
      this.perKey.set(entry.cid, (this.perKey.get(entry.cid) ?? 0) + 1)

      if (entry.ip != null) {
        this.perIp.set(entry.ip, (this.perIp.get(entry.ip) ?? 0) + 1)
        this.perKeyIp.set(`${entry.cid} ${entry.ip}`, (this.perKeyIp.get(`${entry.cid} ${entry.ip}`) ?? 0) + 1)
      }
    } else {
      // a renewal counts where the record was first stored
      entry.ip = existing.ip
    }

    this.entries.set(key, entry)
  }

  private unindex (key: string): void {
    const entry = this.entries.get(key)

    if (entry == null) {
      return
    }

    this.entries.delete(key)
    decrement(this.perPeer, entry.peer)
    decrement(this.perKey, entry.cid)

    if (entry.ip != null) {
      decrement(this.perIp, entry.ip)
      decrement(this.perKeyIp, `${entry.cid} ${entry.ip}`)
    }
  }

  /**
   * The per-IP key of the provider's direct connection (kad-dht stores only
   * records whose provider is the sender, so it is connected); providers
   * connected only through relays share one key
   */
  private ipOf (peer: string): string | undefined {
    try {
      const connections = this.connectionManager.getConnections(peerIdFromString(peer))
      const direct = connections.find(conn => !isCircuit(conn.remoteAddr))

      if (direct != null) {
        return ipKeyOf(direct.remoteAddr)
      }

      return connections.length > 0 ? 'relayed' : undefined
    } catch {}
  }

  private expired (entry: Entry, now: number): boolean {
    return entry.time + this.ttl < now
  }

  /**
   * Deletes the records past their TTL, at most once a second unless `force`
   */
  private async sweep (force = false): Promise<void> {
    const now = Date.now()

    if (!force && now - this.lastSweep < 1000) {
      return
    }

    this.lastSweep = now
    const expired = [...this.entries].filter(([, entry]) => this.expired(entry, now)).map(([key]) => key)

    for (const key of expired) {
      await this.delete(new Key(key))
    }

    if (expired.length > 0) {
      this.log('deleted %d expired provider records', expired.length)
    }
  }

  /**
   * Indexes the provider records already in the datastore, once
   */
  private async load (): Promise<void> {
    this.loaded ??= (async () => {
      for await (const { key, value } of this.inner.query({ prefix: this.prefix })) {
        const entry = this.parse(key, value)

        if (entry != null) {
          this.index(key.toString(), entry)
        }
      }
    })()

    await this.loaded
  }
}

function decrement (counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1

  if (count > 0) {
    counts.set(key, count)
  } else {
    counts.delete(key)
  }
}

/**
 * A view of the peer store whose `merge` takes at most `maxProviderAddrs`
 * addresses of a peer, none longer than `maxProviderAddrBytes` (kad-dht
 * merges the addresses of every ADD_PROVIDER message into the sender's entry)
 */
function boundedAddresses (peerStore: PeerStore, init: ProviderQuotasInit): PeerStore {
  const maxAddrs = init.maxProviderAddrs ?? 16
  const maxBytes = init.maxProviderAddrBytes ?? 256
  // merges of one peer run one after the other, so each sees the addresses
  // the previous one added
  const queues = new Map<string, Promise<unknown>>()

  const bounded: PeerStore['merge'] = async (peerId, data, options) => {
    let known = 0

    try {
      known = (await peerStore.get(peerId, options)).addresses.length
    } catch {}

    const multiaddrs: Multiaddr[] = (data.multiaddrs ?? [])
      .filter(addr => addr.bytes.byteLength <= maxBytes)
      .slice(0, Math.max(maxAddrs - known, 0))

    return peerStore.merge(peerId, { ...data, multiaddrs }, options)
  }

  const merge: PeerStore['merge'] = async (peerId, data, options) => {
    if (data.multiaddrs == null) {
      return peerStore.merge(peerId, data, options)
    }

    const id = peerId.toString()
    const run = (queues.get(id) ?? Promise.resolve()).catch(() => {}).then(async () => bounded(peerId, data, options))
    queues.set(id, run)

    try {
      return await run
    } finally {
      if (queues.get(id) === run) {
        queues.delete(id)
      }
    }
  }

  return new Proxy(peerStore, {
    get (target, prop, receiver) {
      return prop === 'merge' ? merge : Reflect.get(target, prop, receiver)
    }
  })
}
