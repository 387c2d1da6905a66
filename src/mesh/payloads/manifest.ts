import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { CorruptPayloadError } from '../errors.ts'
import { PayloadManifest } from '../pb/payload.ts'
import { MANIFEST_HASH_SIZE, MANIFEST_OVERHEAD, MAX_PAYLOAD_BLOCK, MAX_PAYLOAD_NAME, MAX_PAYLOAD_TYPE, MIN_PAYLOAD_BLOCK, PAYLOAD_CHUNK } from './constants.ts'

/** what a payload's bytes come from: held in memory, or a Blob (a File, or `fs.openAsBlob` in Node) read block by block */
export type PayloadSource = Uint8Array | Blob

/**
 * A payload's manifest: what its sender signed about it.
 */
export interface Manifest {
  /** 16 random bytes */
  id: Uint8Array
  size: number
  blockSize: number
  /** SHA-256 of each block */
  hashes: Uint8Array[]
  name?: string
  type?: string
  /** a private room's payload: the AES-256-GCM key its blocks are sealed with (see `sealChunk`) */
  key?: Uint8Array
}

const ID_LENGTH = 16
const HASH_LENGTH = 32
const KEY_LENGTH = 32
/** bytes AES-GCM adds to each sealed chunk */
const TAG_LENGTH = 16

/** how many blocks `size` bytes make */
export function blockCount (size: number, blockSize: number): number {
  return Math.ceil(size / blockSize)
}

/** bytes of block `index` */
export function blockLength (manifest: Pick<Manifest, 'size' | 'blockSize'>, index: number): number {
  return Math.min(manifest.blockSize, manifest.size - index * manifest.blockSize)
}

/** bytes of block `index` as sent: in a private room each `PAYLOAD_CHUNK` of it sealed, with its tag */
export function sentLength (manifest: Pick<Manifest, 'size' | 'blockSize' | 'key'>, index: number): number {
  const length = blockLength(manifest, index)
  return length + (manifest.key == null ? 0 : TAG_LENGTH * Math.ceil(length / PAYLOAD_CHUNK))
}

const importedKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>()

async function blockKey (key: Uint8Array): Promise<CryptoKey> {
  let imported = importedKeys.get(key)

  if (imported == null) {
    imported = globalThis.crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, 'AES-GCM', false, ['encrypt', 'decrypt'])
    importedKeys.set(key, imported)
  }

  return imported
}

/** a sealed chunk's nonce: its block's index and its own, big-endian (each payload has a key of its own) */
function chunkNonce (block: number, chunk: number): Uint8Array<ArrayBuffer> {
  const nonce = new Uint8Array(12)
  const view = new DataView(nonce.buffer)
  view.setUint32(4, block)
  view.setUint32(8, chunk)
  return nonce
}

/**
 * Chunk `chunk` (of `PAYLOAD_CHUNK` bytes) of block `block` as sent: sealed
 * with the payload's key in a private room, else as it is. Sealed a chunk
 * at a time, so a sender holds a chunk, not a block, per member it serves.
 */
export async function sealChunk (manifest: Pick<Manifest, 'key'>, block: number, chunk: number, bytes: Uint8Array): Promise<Uint8Array> {
  if (manifest.key == null) {
    return bytes
  }

  return new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv: chunkNonce(block, chunk) }, await blockKey(manifest.key), bytes as Uint8Array<ArrayBuffer>))
}

/** block `index` of `source` as sent (see `sealChunk`) */
export async function sealedBlock (source: PayloadSource, manifest: Pick<Manifest, 'size' | 'blockSize' | 'key'>, index: number): Promise<Uint8Array> {
  const plain = await readBlock(source, manifest, index)

  if (manifest.key == null) {
    return plain
  }

  const sealed = new Uint8Array(sentLength(manifest, index))

  for (let chunk = 0, offset = 0; chunk * PAYLOAD_CHUNK < plain.byteLength; chunk++) {
    const bytes = await sealChunk(manifest, index, chunk, plain.subarray(chunk * PAYLOAD_CHUNK, (chunk + 1) * PAYLOAD_CHUNK))
    sealed.set(bytes, offset)
    offset += bytes.byteLength
  }

  return sealed
}

/**
 * Block `index` as the sender read it, from what was sent (checked against
 * its hash first: see `isBlock`).
 *
 * @throws {CorruptPayloadError} it does not decrypt (its sender sealed it wrong)
 */
export async function openBlock (manifest: Pick<Manifest, 'size' | 'blockSize' | 'key'>, index: number, bytes: Uint8Array): Promise<Uint8Array> {
  if (manifest.key == null) {
    return bytes
  }

  const plain = new Uint8Array(blockLength(manifest, index))
  const key = await blockKey(manifest.key)

  try {
    for (let chunk = 0, offset = 0; offset < bytes.byteLength; chunk++) {
      const sealed = bytes.subarray(offset, offset + PAYLOAD_CHUNK + TAG_LENGTH)
      plain.set(new Uint8Array(await globalThis.crypto.subtle.decrypt({ name: 'AES-GCM', iv: chunkNonce(index, chunk) }, key, sealed as Uint8Array<ArrayBuffer>)), chunk * PAYLOAD_CHUNK)
      offset += sealed.byteLength
    }
  } catch {
    throw new CorruptPayloadError(`block ${index} does not decrypt with the payload's key`)
  }

  return plain
}

/** most block hashes a manifest holds in a message of `maxDataSize` bytes */
export function maxHashes (maxDataSize: number): number {
  return Math.floor((maxDataSize - MANIFEST_OVERHEAD) / MANIFEST_HASH_SIZE)
}

/**
 * The smallest power-of-two block of at least `MIN_PAYLOAD_BLOCK` that cuts
 * `size` bytes into at most `hashes` blocks.
 *
 * @throws {InvalidParametersError} blocks would be larger than `MAX_PAYLOAD_BLOCK`
 */
export function blockSizeFor (size: number, hashes: number): number {
  let blockSize = MIN_PAYLOAD_BLOCK

  while (blockCount(size, blockSize) > hashes) {
    blockSize *= 2
  }

  if (blockSize > MAX_PAYLOAD_BLOCK) {
    throw new InvalidParametersError(`a payload of ${size} bytes needs blocks larger than ${MAX_PAYLOAD_BLOCK} bytes with this maxMessageSize`)
  }

  return blockSize
}

/** the bytes of block `index` */
export async function readBlock (source: PayloadSource, manifest: Pick<Manifest, 'size' | 'blockSize'>, index: number): Promise<Uint8Array> {
  const start = index * manifest.blockSize
  return readRange(source, start, start + blockLength(manifest, index))
}

/** bytes `start` to `end` of `source` */
export async function readRange (source: PayloadSource, start: number, end: number): Promise<Uint8Array> {
  if (source instanceof Uint8Array) {
    return source.subarray(start, end)
  }

  return new Uint8Array(await source.slice(start, end).arrayBuffer())
}

export async function hashBlock (bytes: Uint8Array): Promise<Uint8Array> {
  return (await sha256.digest(bytes)).digest
}

/** whether `bytes` are block `index` of `manifest`, as sent */
export async function isBlock (manifest: Manifest, index: number, bytes: Uint8Array): Promise<boolean> {
  return bytes.byteLength === sentLength(manifest, index) && uint8ArrayEquals(await hashBlock(bytes), manifest.hashes[index])
}

/**
 * The manifest of `source`: its blocks are read and hashed once (as sent:
 * with `sealed`, a private room's, each block is sealed with a fresh key
 * first, and the hash is of the ciphertext).
 *
 * @throws {InvalidParametersError} a name or type too long, or a payload too large for `hashes` blocks
 */
export async function describePayload (source: PayloadSource, init: { maxHashes: number, name?: string, type?: string, sealed?: boolean }): Promise<Manifest> {
  const size = source instanceof Uint8Array ? source.byteLength : source.size
  const name = init.name ?? (typeof (source as File).name === 'string' ? (source as File).name : undefined)
  const type = init.type ?? (source instanceof Blob && source.type !== '' ? source.type : undefined)

  if (new TextEncoder().encode(name ?? '').byteLength > MAX_PAYLOAD_NAME || new TextEncoder().encode(type ?? '').byteLength > MAX_PAYLOAD_TYPE) {
    throw new InvalidParametersError(`a payload's name is at most ${MAX_PAYLOAD_NAME} bytes, its type ${MAX_PAYLOAD_TYPE}`)
  }

  const manifest: Manifest = {
    id: globalThis.crypto.getRandomValues(new Uint8Array(ID_LENGTH)),
    size,
    blockSize: blockSizeFor(size, init.maxHashes),
    hashes: [],
    name,
    type,
    key: init.sealed === true ? globalThis.crypto.getRandomValues(new Uint8Array(KEY_LENGTH)) : undefined
  }

  for (let i = 0; i < blockCount(size, manifest.blockSize); i++) {
    manifest.hashes.push(await hashBlock(await sealedBlock(source, manifest, i)))
  }

  return manifest
}

export function encodeManifest (manifest: Manifest): Uint8Array {
  return PayloadManifest.encode({
    id: manifest.id as Uint8Array<ArrayBuffer>,
    size: BigInt(manifest.size),
    blockSize: manifest.blockSize,
    hashes: manifest.hashes as Array<Uint8Array<ArrayBuffer>>,
    name: manifest.name ?? '',
    type: manifest.type ?? '',
    key: (manifest.key ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer>
  })
}

/**
 * Reads a manifest and checks that its fields add up. A payload larger than
 * this member takes (`maxPayloadSize`) is a valid manifest all the same:
 * members' settings may differ, and the message it came in is delivered
 * (see `IncomingPayloadImpl`).
 *
 * @throws {InvalidMessageError} not a manifest, or one whose fields do not add up
 */
export function decodeManifest (bytes: Uint8Array): Manifest {
  let message: PayloadManifest

  try {
    message = PayloadManifest.decode(bytes, { limits: { hashes: Math.ceil(bytes.byteLength / HASH_LENGTH) } })
  } catch (err: any) {
    throw new InvalidMessageError(`malformed payload manifest: ${err.message}`)
  }

  const size = Number(message.size)
  const blockSize = message.blockSize

  if (!Number.isSafeInteger(size)) {
    throw new InvalidMessageError('a payload size out of range')
  }

  if (message.id.byteLength !== ID_LENGTH || blockSize < MIN_PAYLOAD_BLOCK || blockSize > MAX_PAYLOAD_BLOCK || (blockSize & (blockSize - 1)) !== 0 ||
    message.hashes.length !== blockCount(size, blockSize) || message.hashes.some(hash => hash.byteLength !== HASH_LENGTH) ||
    new TextEncoder().encode(message.name).byteLength > MAX_PAYLOAD_NAME || new TextEncoder().encode(message.type).byteLength > MAX_PAYLOAD_TYPE ||
    (message.key.byteLength !== 0 && message.key.byteLength !== KEY_LENGTH)) {
    throw new InvalidMessageError('a payload manifest whose id, block size, hashes, name, type or key do not add up')
  }

  return {
    id: message.id,
    size,
    blockSize,
    hashes: message.hashes,
    name: message.name === '' ? undefined : message.name,
    type: message.type === '' ? undefined : message.type,
    key: message.key.byteLength === 0 ? undefined : message.key
  }
}
