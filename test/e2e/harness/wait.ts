/**
 * `until`: the e2e suite's one way to wait for a condition, a named wrapper over vitest's
 * vi.waitFor that keeps the call sites short and returns the awaited value.
 */
import { vi } from 'vitest';

/**
 * Polls `fn` every `everyMs` until it returns something other than undefined or false, and
 * returns that; a throw counts as "not yet". After `ms` it fails with `timed out waiting for
 * <what>`, plus the last error `fn` threw.
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000, everyMs = 100): Promise<T> {
  let last: unknown;
  const notYet = (): Error => new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
  try {
    return await vi.waitFor(
      async () => {
        let v: T | undefined | false;
        try {
          v = await fn();
        } catch (err) {
          last = err;
          throw notYet();
        }
        if (v === undefined || v === false) throw notYet();
        return v;
      },
      { timeout: ms, interval: everyMs },
    );
  } catch {
    throw notYet();
  }
}
