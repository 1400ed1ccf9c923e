/**
 * The agent's retry pacing towards the controller, one policy for the session's loops and the
 * tunnel: 200 ms doubling to 5 s, with pkg/util's jitter. Options may lower it (tests do).
 *
 * Heartbeats are paced tighter: a retry never waits longer than one heartbeat period (counted
 * from the start of the failed beat), and each beat has a deadline of one period. The
 * controller's node timeout is about three periods and a new leader gives every node one node
 * timeout to beat again, so an agent reaches a restarted controller, a new leader or, after a
 * partition, the LAN again within one period of it being reachable, well inside that grace.
 * That is the agent's normal beat rate, so an outage adds no load. The log/exec tunnel re-opens
 * at the same pace (TUNNEL_RETRY_CAP_MS), so logs and exec work again as soon as the agent's
 * controller, or the next one it knows, is back.
 */
import { Backoff } from '../../util/index.js';

export interface PacingOptions {
  /** Delay before the first retry; default 200 ms. */
  backoffMinMs?: number;
  /** Cap of the delay; default 5 s. */
  backoffMaxMs?: number;
}

export const AGENT_BACKOFF = { minMs: 200, maxMs: 5000 } as const;

/** The tunnel's longest pause between two attempts to re-open it. */
export const TUNNEL_RETRY_CAP_MS = 1000;

/** A fresh failure counter on the agent's policy. */
export function agentBackoff(o: PacingOptions): Backoff {
  return new Backoff({ minMs: o.backoffMinMs ?? AGENT_BACKOFF.minMs, maxMs: o.backoffMaxMs ?? AGENT_BACKOFF.maxMs });
}

/** The agent's policy for heartbeats: capped at one heartbeat period. */
export function heartbeatBackoff(o: PacingOptions, heartbeatMs: number): Backoff {
  const maxMs = Math.max(1, Math.min(o.backoffMaxMs ?? AGENT_BACKOFF.maxMs, heartbeatMs));
  return new Backoff({ minMs: Math.min(o.backoffMinMs ?? AGENT_BACKOFF.minMs, maxMs), maxMs });
}
