/** Go-style durations (`5s`, `100ms`, `1m30s`, `2h`), as Swarm writes them. */
import { ShoalError } from './errors.js';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;

/** True when `text` is a valid duration string (a bare `0` is allowed, as in Go). */
export function isDuration(text: string): boolean {
  try {
    parseDurationMs(text);
    return true;
  } catch {
    return false;
  }
}

/** Milliseconds of a Go-style duration. Throws InvalidArgument on bad syntax. */
export function parseDurationMs(text: string): number {
  if (text === '0') return 0;
  PART.lastIndex = 0;
  let total = 0;
  let pos = 0;
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 1000);
    pos = PART.lastIndex;
  }
  if (pos === 0 || pos !== text.length) {
    throw new ShoalError('InvalidArgument', `invalid duration "${text}" (want e.g. 5s, 100ms, 1m30s)`);
  }
  return total;
}

/** `90000` → `1m30s`, `1500` → `1.5s`, `250` → `250ms`. */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = ms;
  let out = '';
  const h = Math.floor(rest / 3_600_000);
  if (h > 0) {
    out += `${h}h`;
    rest -= h * 3_600_000;
  }
  const m = Math.floor(rest / 60_000);
  if (m > 0) {
    out += `${m}m`;
    rest -= m * 60_000;
  }
  if (rest > 0) out += `${Number((rest / 1000).toFixed(3))}s`;
  return out;
}
