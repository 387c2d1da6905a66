import type { Member } from '../member.ts'
import type { Heartbeat } from '../pb/mesh.ts'
import type { Session } from '../session.ts'

/**
 * A heartbeat from a member: answer it, or take its answer to ours as an RTT
 * sample.
 */
export function handleHeartbeat (member: Member, session: Session, heartbeat: Heartbeat): void {
  if (heartbeat.reply) {
    member.liveness.replied(heartbeat.seq)
  } else {
    session.post({ heartbeat: { seq: heartbeat.seq, reply: true } })
  }
}
