/**
 * Retry pacing for every reconnect loop (agent session and tunnel, informers, store
 * watches): exponential backoff with jitter, and a sleep that an AbortSignal cuts short.
 * `backoffDelay` is pure (attempt and random source come in); `Backoff` counts failures.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface BackoffPolicy {
  /** Delay before the first retry. */
  minMs: number;
  /** Cap of the delay. */
  maxMs: number;
  /**
   * Share of each delay that is random (0 = none, 1 = full jitter); default 0.5: the delay
   * is drawn from the upper half, so clients that failed together do not retry in lockstep.
   */
  jitter?: number;
}

/** The pacing of the control-plane loops: 100 ms doubling to 5 s. */
export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = { minMs: 100, maxMs: 5000 };

/** Delay before retry number `attempt` (0-based): `minMs · 2^attempt`, capped at `maxMs`, with jitter. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0.5));
  return Math.round(base * (1 - jitter) + random() * base * jitter);
}

/** A failure counter over a policy: `next()` is the delay before the next attempt. */
export class Backoff {
  private count = 0;

  constructor(
    private readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; counts the failure. */
  next(): number {
    return backoffDelay(this.policy, this.count++, this.random);
  }

  reset(): void {
    this.count = 0;
  }

  /** Failures since the last reset. */
  get failures(): number {
    return this.count;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  // node's timer rejects with AbortError on abort; here an abort just ends the wait early.
  return delay(ms, undefined, { signal }).catch(() => undefined);
}
