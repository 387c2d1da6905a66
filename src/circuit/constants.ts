/**
 * The hop protocol: clients reserve slots and open circuits with it
 */
export const RELAY_V2_HOP_CODEC = '/libp2p/circuit/relay/0.2.0/hop'

/**
 * The stop protocol: the relay tells a reserved peer about a circuit with it
 */
export const RELAY_V2_STOP_CODEC = '/libp2p/circuit/relay/0.2.0/stop'

/**
 * The largest hop or stop message accepted, in bytes (go-libp2p uses 4 KiB)
 */
export const MAX_CIRCUIT_MESSAGE_SIZE = 4 * 1024
