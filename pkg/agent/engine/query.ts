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

/** A number parameter (integer unless `allowFraction`), at least `min` (default 0); absent or empty: undefined; else InvalidArgument. */
export function intParam(q: Query, key: string, opts: { min?: number; allowFraction?: boolean } = {}): number | undefined {
  const s = first(q[key]);
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  if (!Number.isFinite(n) || (!opts.allowFraction && !Number.isInteger(n)) || n < (opts.min ?? 0)) {
    throw new ShoalError('InvalidArgument', `invalid query parameter ${key}=${JSON.stringify(s)}: want a number >= ${opts.min ?? 0}`);
  }
  return n;
}
