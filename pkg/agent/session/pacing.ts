/**
 * The agent's retry pacing towards the controller, one policy for the session's loops and the
 * tunnel: 200 ms doubling to 5 s, with pkg/util's jitter. Options may lower it (tests do).
 */
import { Backoff } from '../../util/index.js';

export interface PacingOptions {
  /** Delay before the first retry; default 200 ms. */
  backoffMinMs?: number;
  /** Cap of the delay; default 5 s. */
  backoffMaxMs?: number;
}

export const AGENT_BACKOFF = { minMs: 200, maxMs: 5000 } as const;

/** A fresh failure counter on the agent's policy. */
export function agentBackoff(o: PacingOptions): Backoff {
  return new Backoff({ minMs: o.backoffMinMs ?? AGENT_BACKOFF.minMs, maxMs: o.backoffMaxMs ?? AGENT_BACKOFF.maxMs });
}
