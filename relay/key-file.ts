import { mkdir, open, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { KeyFileError } from './errors.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Reads the relay's private key from `path` (a protobuf-encoded libp2p private
 * key), or, when no file is there, generates an Ed25519 key and writes it with
 * mode 0600 so the relay keeps its peer id across restarts.
 *
 * An existing file is never overwritten: if it cannot be read or parsed this
 * throws a {@link KeyFileError} naming the file.
 */
export async function loadOrCreateKey (path: string): Promise<PrivateKey> {
  let bytes: Uint8Array

  try {
    bytes = await readFile(path)
  } catch (err: any) {
    if (err.code !== 'ENOENT') {
      throw new KeyFileError(`cannot read key file ${path}: ${err.code ?? err.message}`)
    }

    return createKeyFile(path)
  }

  try {
    return privateKeyFromProtobuf(bytes)
  } catch {
    throw new KeyFileError(`key file ${path} is corrupt: it does not hold a protobuf-encoded libp2p private key`)
  }
}

async function createKeyFile (path: string): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')

  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    // 'wx' fails if the file appeared meanwhile: never overwrite a key
    const file = await open(path, 'wx', 0o600)

    try {
      await file.writeFile(privateKeyToProtobuf(key))
    } finally {
      await file.close()
    }
  } catch (err: any) {
    throw new KeyFileError(`cannot create key file ${path}: ${err.code ?? err.message}`)
  }

  return key
}
