import { InvalidMessageError, InvalidParametersError } from '@libp2p/interface'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { PayloadManifest } from '../pb/payload.ts'
import { MANIFEST_HASH_SIZE, MANIFEST_OVERHEAD, MAX_PAYLOAD_BLOCK, MAX_PAYLOAD_NAME, MAX_PAYLOAD_TYPE, MIN_PAYLOAD_BLOCK } from './constants.ts'

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
}

const ID_LENGTH = 16
const HASH_LENGTH = 32

/** how many blocks `size` bytes make */
export function blockCount (size: number, blockSize: number): number {
  return Math.ceil(size / blockSize)
}

/** bytes of block `index` */
export function blockLength (manifest: Pick<Manifest, 'size' | 'blockSize'>, index: number): number {
  return Math.min(manifest.blockSize, manifest.size - index * manifest.blockSize)
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

/** whether `bytes` are block `index` of `manifest` */
export async function isBlock (manifest: Manifest, index: number, bytes: Uint8Array): Promise<boolean> {
  return bytes.byteLength === blockLength(manifest, index) && uint8ArrayEquals(await hashBlock(bytes), manifest.hashes[index])
}

/**
 * The manifest of `source`: its blocks are read and hashed once.
 *
 * @throws {InvalidParametersError} a name or type too long, or a payload too large for `hashes` blocks
 */
export async function describePayload (source: PayloadSource, init: { maxHashes: number, name?: string, type?: string }): Promise<Manifest> {
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
    type
  }

  for (let i = 0; i < blockCount(size, manifest.blockSize); i++) {
    manifest.hashes.push(await hashBlock(await readBlock(source, manifest, i)))
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
    type: manifest.type ?? ''
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
    new TextEncoder().encode(message.name).byteLength > MAX_PAYLOAD_NAME || new TextEncoder().encode(message.type).byteLength > MAX_PAYLOAD_TYPE) {
    throw new InvalidMessageError('a payload manifest whose id, block size, hashes, name or type do not add up')
  }

  return {
    id: message.id,
    size,
    blockSize,
    hashes: message.hashes,
    name: message.name === '' ? undefined : message.name,
    type: message.type === '' ? undefined : message.type
  }
}
