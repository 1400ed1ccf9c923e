/**
 * Query parameters of the engine API's routes (pure). Fastify hands a parameter over as a
 * string, or as an array when it is repeated; the first value counts.
 */
import { ShoalError } from '../../api/index.js';
import { parseBoolParam } from '../../httpserver/index.js';

export type Query = Record<string, string | string[] | undefined>;

export const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** A boolean flag (`force`, `all`, `follow`...), read as both HTTP APIs read one (pkg/httpserver). */
export function flag(v: string | string[] | undefined, name: string): boolean {
  return parseBoolParam(first(v), name);
}

/** A number parameter (integer unless `allowFraction`), at least `min` (default 0) and at most `max`; absent or empty: undefined; else InvalidArgument. */
export function intParam(q: Query, key: string, opts: { min?: number; max?: number; allowFraction?: boolean } = {}): number | undefined {
  const s = first(q[key]);
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  const max = opts.max ?? Infinity;
  if (!Number.isFinite(n) || (!opts.allowFraction && !Number.isInteger(n)) || n < (opts.min ?? 0) || n > max) {
    const range = max === Infinity ? `>= ${opts.min ?? 0}` : `from ${opts.min ?? 0} to ${max}`;
    throw new ShoalError('InvalidArgument', `invalid query parameter ${key}=${JSON.stringify(s)}: want a number ${range}`);
  }
  return n;
}
