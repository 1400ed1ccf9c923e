/** Polls `fn` until it returns something other than undefined/false; the last error is kept for the timeout message. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
