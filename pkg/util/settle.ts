/** A promise's outcome as a value, so it can be raced or awaited later without a rejection escaping. */
export type Settled<T> = { ok: true; value: T } | { ok: false; err: unknown };

export function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
}
