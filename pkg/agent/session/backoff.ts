import { setTimeout as delay } from 'node:timers/promises';

/** Exponential backoff with jitter for the session's reconnect loops. Pure: the random source comes in. */
export interface Backoff {
  /** The delay before the next attempt (and counts the failure). */
  next(): number;
  reset(): void;
  readonly failures: number;
}

export function createBackoff(minMs: number, maxMs: number, random: () => number = Math.random): Backoff {
  let failures = 0;
  return {
    next() {
      const base = Math.min(maxMs, minMs * 2 ** Math.min(failures, 20));
      failures++;
      // Full jitter on the upper half: agents that lost the controller together do not retry in lockstep.
      return Math.round(base / 2 + (random() * base) / 2);
    },
    reset() {
      failures = 0;
    },
    get failures() {
      return failures;
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  // node's timer rejects with AbortError on abort; here an abort just ends the wait early.
  return delay(ms, undefined, { signal }).catch(() => undefined);
}
