import { setMaxListeners } from '@libp2p/interface'
import { relayNamespaceCid } from '../src/relays/index.ts'
import { sleep } from '../src/health/index.ts'
import { DEFAULT_PROVIDE_ATTEMPT_TIMEOUT, DEFAULT_PROVIDE_RETRY_INTERVAL, QUICK_RETRIES, QUICK_RETRY_DELAY } from './constants.ts'
import type { AbortOptions, ComponentLogger, Logger, Startable, Topology } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { CID } from 'multiformats/cid'

export interface RelayAdvertiserInit {
  /**
   * The namespaces to provide, each as the CID `relayNamespaceCid()` makes
   */
  namespaces: string[]

  /**
   * The DHT's protocol id, to notice DHT servers joining
   */
  protocol: string

  /**
   * How long one provide may wait for DHT peers and reach them, in ms
   *
   * @default 60_000
   */
  attemptTimeout?: number

  /**
   * How long to wait before trying again after a provide reached no peer, in
   * ms (a DHT server connecting cuts the wait short)
   *
   * @default 10_000
   */
  retryInterval?: number
}

export interface RelayAdvertiserComponents {
  dht: Pick<KadDHT, 'provide'>
  registrar: {
    register(protocol: string, topology: Topology): Promise<string>
    unregister(id: string): void
  }
  logger: ComponentLogger
}

/**
 * Makes the relay a provider of its namespace CIDs in relaymesh's DHT.
 *
 * kad-dht's `provide` first writes the relay's own provider record to its
 * store (so a client that reaches this relay alone finds it), then waits for
 * DHT peers and sends the record to the closest. With no peer yet it waits,
 * so each attempt runs in the background with a timeout, and is retried on
 * an interval and as soon as a DHT server connects, until the record has
 * reached a peer. From then on kad-dht's reprovider keeps it fresh (see the
 * `reprovide` options in `relay.ts`).
 */
export class RelayAdvertiser implements Startable {
  private readonly components: RelayAdvertiserComponents
  private readonly init: RelayAdvertiserInit
  private readonly log: Logger
  private readonly attemptTimeout: number
  private readonly retryInterval: number
  private readonly pending: Set<CID>
  private shutdownController: AbortController
  private topologyId?: string
  private loop?: Promise<void>
  private peerJoined: boolean
  private quickRetries = 0
  private wake?: () => void
  private _cids: CID[]

  constructor (components: RelayAdvertiserComponents, init: RelayAdvertiserInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('relaymesh:relay:advertise')
    this.attemptTimeout = init.attemptTimeout ?? DEFAULT_PROVIDE_ATTEMPT_TIMEOUT
    this.retryInterval = init.retryInterval ?? DEFAULT_PROVIDE_RETRY_INTERVAL
    this.pending = new Set()
    this.shutdownController = new AbortController()
    this.peerJoined = false
    this._cids = []
  }

  /**
   * The CIDs this relay provides
   */
  get cids (): CID[] {
    return [...this._cids]
  }

  /**
   * Whether every namespace's record has reached at least one DHT peer
   */
  get provided (): boolean {
    return this._cids.length > 0 && this.pending.size === 0
  }

  async start (): Promise<void> {
    this.shutdownController = new AbortController()
    setMaxListeners(Infinity, this.shutdownController.signal)
    this._cids = await Promise.all(this.init.namespaces.map(async namespace => relayNamespaceCid(namespace)))
    this._cids.forEach(cid => this.pending.add(cid))

    this.topologyId = await this.components.registrar.register(this.init.protocol, {
      onConnect: () => {
        this.peerJoined = true
        // the DHT may add the peer to its routing table a moment after this:
        // retry soon a few times before falling back to the long interval
        this.quickRetries = QUICK_RETRIES
        this.wake?.()
      }
    })
  }

  afterStart (): void {
    this.loop = this.run(this.shutdownController.signal)
      .catch((err: Error) => {
        this.log.error('provide loop failed - %e', err)
      })
  }

  async stop (): Promise<void> {
    this.shutdownController.abort()

    if (this.topologyId != null) {
      this.components.registrar.unregister(this.topologyId)
      this.topologyId = undefined
    }

    await this.loop
    this.loop = undefined
  }

  private async run (signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.pending.size > 0) {
      this.peerJoined = false
      await Promise.all([...this.pending].map(async cid => this.provide(cid, { signal })))

      if (this.pending.size > 0 && !this.peerJoined) {
        const quick = this.quickRetries > 0
        this.quickRetries = Math.max(0, this.quickRetries - 1)
        // a DHT server connecting ends the wait early
        await sleep(quick ? QUICK_RETRY_DELAY : this.retryInterval, signal, wake => { this.wake = wake })
        this.wake = undefined
      }
    }
  }

  private async provide (cid: CID, options: AbortOptions & { signal: AbortSignal }): Promise<void> {
    const start = Date.now()
    const signal = AbortSignal.any([options.signal, AbortSignal.timeout(this.attemptTimeout)])
    setMaxListeners(Infinity, signal)
    let reached = 0

    try {
      for await (const event of this.components.dht.provide(cid, { signal })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') {
          reached++
        }
      }
    } catch (err: any) {
      if (options.signal.aborted) {
        return
      }

      this.log('providing %c stopped after %d ms - %e', cid, Date.now() - start, err)
    }

    if (reached > 0) {
      this.pending.delete(cid)
      this.log('provided %c to %d peers in %d ms', cid, reached, Date.now() - start)
    } else if (!options.signal.aborted) {
      this.log('provided %c to no peer after %d ms, trying again', cid, Date.now() - start)
    }
  }
}
