const second = 1

/**
 * The relay program's defaults. Durations are in seconds, sizes in bytes.
 */
export const DEFAULT_RELAY_OPTIONS = {
  host: '127.0.0.1',
  port: 9090,
  tcpPort: 9091,
  keyFile: '.data/relay.key',
  /** go-libp2p and rust-libp2p hold 128; stock js-libp2p 15 */
  maxReservations: 128,
  /** as go-libp2p */
  maxReservationsPerIp: 8,
  /** clients renew well before this */
  reservationTtl: 60 * 60 * second,
  /** long enough for a room to fall back to relaying without being cut off mid-message */
  circuitDuration: 10 * 60 * second,
  circuitData: 64 * 1024 * 1024,
  maxCircuitsPerPeer: 16,
  maxConnections: 1024,
  /** stock libp2p: 5, which cuts off clients arriving together from one NAT */
  inboundPerIp: 128,
  /** stock libp2p: 10 */
  maxPending: 256,
  metricsPort: 0
}
