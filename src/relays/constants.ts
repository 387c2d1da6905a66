import type { RelaysInit } from './index.ts'

const second = 1000
const minute = 60 * second

/** Relays kept reserved at once */
export const DEFAULT_RELAY_COUNT = 2

/** Ping round trips per latency measurement; the median is the latency */
export const DEFAULT_PROBE_SAMPLES = 3

/** How long one latency measurement (dial + pings) may take */
export const DEFAULT_PROBE_TIMEOUT = 10 * second

/** How often candidates are rediscovered, re-measured and the selection re-evaluated */
export const DEFAULT_REEVALUATE_INTERVAL = 60 * second

/** A candidate replaces a selected relay only if it is this much faster (0.3 = 30 %) */
export const DEFAULT_HYSTERESIS = 0.3

/** ...and by at least this many ms, so loopback and LAN jitter never moves relays */
export const DEFAULT_MIN_GAIN = 10

/** A reservation is renewed when this fraction of its remaining lifetime has passed */
export const DEFAULT_RENEW_AT = 0.5

/** Never renew sooner than this after the previous reservation */
export const MIN_RENEW_DELAY = 500

/** Renewal attempts, spread over the remaining lifetime, before the relay is replaced */
export const DEFAULT_RENEW_ATTEMPTS = 3

/** Backoff after a candidate fails, doubling per failure up to the maximum */
export const DEFAULT_BACKOFF_INITIAL = second
export const DEFAULT_BACKOFF_MAX = 5 * minute

/** How long one DHT provider query may take */
export const DEFAULT_DISCOVERY_TIMEOUT = 20 * second

/** First delay before asking the DHT again while too few candidates are known; doubles */
export const DEFAULT_DISCOVERY_RETRY = 2 * second

/** Added to backoff timers, which may fire a little before their deadline */
export const RETRY_SLACK = 10

/** Most candidates remembered */
export const DEFAULT_MAX_CANDIDATES = 64

/**
 * The options of the `relays` service with every default applied.
 */
export type ResolvedRelaysInit = Required<Omit<RelaysInit, 'bootstrap' | 'namespace'>> & Pick<RelaysInit, 'namespace'>

/**
 * Applies the defaults above to `init`.
 */
export function resolveRelaysInit (init: RelaysInit): ResolvedRelaysInit {
  return {
    relayCount: init.relayCount ?? DEFAULT_RELAY_COUNT,
    probeSamples: init.probeSamples ?? DEFAULT_PROBE_SAMPLES,
    probeTimeout: init.probeTimeout ?? DEFAULT_PROBE_TIMEOUT,
    reevaluateInterval: init.reevaluateInterval ?? DEFAULT_REEVALUATE_INTERVAL,
    hysteresis: init.hysteresis ?? DEFAULT_HYSTERESIS,
    minGain: init.minGain ?? DEFAULT_MIN_GAIN,
    renewAt: init.renewAt ?? DEFAULT_RENEW_AT,
    renewAttempts: init.renewAttempts ?? DEFAULT_RENEW_ATTEMPTS,
    backoffInitial: init.backoffInitial ?? DEFAULT_BACKOFF_INITIAL,
    backoffMax: init.backoffMax ?? DEFAULT_BACKOFF_MAX,
    discoveryTimeout: init.discoveryTimeout ?? DEFAULT_DISCOVERY_TIMEOUT,
    maxCandidates: init.maxCandidates ?? DEFAULT_MAX_CANDIDATES,
    discovery: init.discovery ?? true,
    iceServers: init.iceServers ?? true,
    namespace: init.namespace
  }
}

/** The protocol on which a relay tells its clients its ICE servers */
export const RELAY_INFO_PROTOCOL = '/relaymesh/relay-info/1.0.0'

/** Longest relay-info message a client reads, in bytes */
export const MAX_RELAY_INFO_SIZE = 16 * 1024

/** Most ICE servers one relay may hand out (its STUN server included) */
export const MAX_ICE_SERVERS = 8

/** Most URLs per ICE server */
export const MAX_ICE_URLS = 4

/** Longest ICE server URL, in characters */
export const MAX_ICE_URL_LENGTH = 256

/** Longest TURN username or credential, in characters */
export const MAX_ICE_CREDENTIAL_LENGTH = 256
