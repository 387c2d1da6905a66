import { readFile } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'
import { UsageError } from './errors.ts'
import type { Libp2pEvents, TypedEventTarget } from '@libp2p/interface'

/**
 * A certificate chain and its private key, PEM.
 */
export interface TlsPem {
  cert: string
  key: string
}

/**
 * Reads the PEM certificate chain and key the relay serves TLS with, and
 * checks that they make a TLS context (the key matches the certificate).
 *
 * @throws {UsageError} naming the flag when a file cannot be read or the pair is not usable
 */
export async function readTlsFiles (certFile: string, keyFile: string): Promise<TlsPem> {
  const read = async (file: string, flag: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8')
    } catch (err: any) {
      throw new UsageError(`--${flag}: cannot read ${file}: ${err.code ?? err.message}`)
    }
  }

  const pem = { cert: await read(certFile, 'tls-cert'), key: await read(keyFile, 'tls-key') }

  if (!pem.cert.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UsageError(`--tls-cert: ${certFile} holds no PEM certificate`)
  }

  try {
    createSecureContext(pem)
  } catch (err: any) {
    throw new UsageError(`--tls-cert / --tls-key: ${certFile} and ${keyFile} are not a usable pair: ${err.message}`)
  }

  return pem
}

/**
 * A libp2p service that hands a renewed certificate to the node's listeners
 * (the WebSocket listener restarts its https server with it), the way
 * libp2p's auto-tls does: through the node's internal event bus.
 */
export interface TlsRenewer {
  renew(pem: TlsPem): void
}

/**
 * Makes the {@link TlsRenewer} service.
 */
export function tlsRenewer (): (components: { events: TypedEventTarget<Libp2pEvents> }) => TlsRenewer {
  return (components) => ({
    renew: (pem) => {
      components.events.safeDispatchEvent('certificate:renew', { detail: pem })
    }
  })
}
