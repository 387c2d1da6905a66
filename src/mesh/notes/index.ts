/**
 * Room notes: what members send each other that is not logged or replayed
 * (presence, ephemeral messages, direct messages, requests, responses and
 * receipts), signed like room messages and carried on the room stream
 * (`MeshMessage.note`), passed on by members where a pair has no stream.
 * `RoomNotes` checks and routes them, `Presence` keeps each member's newest
 * value, `DirectMessages` sends until the signed answer arrives and takes
 * each note once. Limits are in `constants.ts`.
 *
 * @packageDocumentation
 */

export { RoomNotes } from './notes.ts'
