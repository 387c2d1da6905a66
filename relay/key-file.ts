import { mkdir, open, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { KeyFileError } from './errors.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Reads the relay's private key from `path` (a protobuf-encoded libp2p private
 * key), or, when no file is there, generates an Ed25519 key and writes it with
 * mode 0600 so the relay keeps its peer id across restarts.
 *
 * An existing file is never overwritten: if it cannot be read or parsed, or
 * its group or other users may read it (a key anyone on the host can copy
 * lets them impersonate the relay) or write it (they could put their own key
 * there), this throws a {@link KeyFileError}
 * naming the file; `chmod 600` it (as ssh does with private keys).
 */
export async function loadOrCreateKey (path: string): Promise<PrivateKey> {
  let bytes: Uint8Array

  try {
    await checkMode(path)
    bytes = await readFile(path)
  } catch (err: any) {
    if (err.name === 'KeyFileError') {
      throw err
    }

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

/**
 * Refuses a key file that its group or other users can read or write (POSIX
 * modes only)
 */
async function checkMode (path: string): Promise<void> {
  if (process.platform === 'win32') {
    return
  }

  const stats = await stat(path)
  const mode = stats.mode

  // what is not a file fails when read, with its own error
  if (stats.isFile() && (mode & 0o066) !== 0) {
    const how = (mode & 0o044) !== 0 ? 'readable' : 'writable'
    throw new KeyFileError(`key file ${path} is ${how} by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${path}`)
  }
}
