/** Go-style durations (`5s`, `100ms`, `1m30s`, `2h`) in milliseconds; a bare number is seconds. */
import { ShoalError } from '../../api/index.js';

const UNIT: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string | number | undefined, fallbackMs = 0): number {
  if (text === undefined || text === '') return fallbackMs;
  if (typeof text === 'number') return text * 1000;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT[m[2] ?? 's'] ?? 1000);
    pos = re.lastIndex;
  }
  if (pos !== text.length || pos === 0) throw new ShoalError('InvalidArgument', `invalid duration "${text}" (want e.g. 5s, 100ms, 1m30s)`);
  return total;
}
