import type { Member } from '../member.ts'
import type { Heartbeat } from '../pb/mesh.ts'

/**
 * A heartbeat from a member: remember its number for our next heartbeat to
 * acknowledge, and take its acknowledgement of ours (an RTT sample).
 */
export function handleHeartbeat (member: Member, heartbeat: Heartbeat, now: number = Date.now()): void {
  if (heartbeat.seq > member.heardSeq) {
    member.heardSeq = heartbeat.seq
    member.heardSeqAt = now
  }

  if (heartbeat.ack > 0n) {
    member.liveness.acknowledged(heartbeat.ack, now, heartbeat.ackDelay)
  }
}
