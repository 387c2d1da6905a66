/**
 * Large payloads: a member sends a signed manifest (size, block size, the
 * SHA-256 of each block) as a room message or a direct note and keeps the
 * bytes for `payloadRetention`; each member that reads the payload fetches
 * the blocks on its own `/relaymesh/mesh-payload/1.0.0` stream, from the
 * sender or through a member that reaches it (`RoomPayloads.passOn`),
 * checking each block before it is given (`IncomingPayloadImpl`), and takes
 * a broken fetch up where it stopped. Limits are in `constants.ts`.
 *
 * @packageDocumentation
 */

export { RoomPayloads } from './payloads.ts'
export type { PayloadsRoom } from './payloads.ts'
