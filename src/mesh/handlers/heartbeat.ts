import type { Member } from '../member.ts'
import type { Heartbeat } from '../pb/mesh.ts'

/**
 * A heartbeat from a member: our next heartbeat acknowledges it, and its
 * acknowledgement of ours is an RTT sample.
 */
export function handleHeartbeat (member: Member, heartbeat: Heartbeat, now: number = Date.now()): void {
  member.liveness.receivedHeartbeat(heartbeat.seq, now)

  if (heartbeat.ack > 0n) {
    member.liveness.acknowledged(heartbeat.ack, now, heartbeat.ackDelay)
  }
}
