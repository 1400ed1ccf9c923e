/**
 * Kubernetes quantities for the scheduler: CPU in millicores (`500m`, `2`, `0.5`) and memory
 * in bytes (`64Mi`, `1G`, `1e6`). Local parser until `pkg/api/quantity.ts` lands.
 * Invalid text throws ShoalError InvalidArgument naming the text.
 */
import { ShoalError } from '../api/index.js';

const SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
  m: 1e-3,
};

const RE = /^([+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/;

/** The quantity as a plain number of base units (cores or bytes). */
export function parseQuantity(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new ShoalError('InvalidArgument', `invalid quantity ${String(text)}`);
    return text;
  }
  const m = RE.exec(text.trim());
  if (m === null) throw new ShoalError('InvalidArgument', `invalid quantity "${text}"`);
  const n = Number(m[1]) * (SUFFIX[m[2] ?? ''] ?? 1);
  if (!Number.isFinite(n)) throw new ShoalError('InvalidArgument', `invalid quantity "${text}"`);
  return n;
}

/** CPU in millicores, rounded up (`500m` → 500, `2` → 2000). */
export function cpuMillis(text: string | number | undefined): number {
  if (text === undefined) return 0;
  return Math.ceil(parseQuantity(text) * 1000 - 1e-9);
}

/** Memory in bytes, rounded up. */
export function memoryBytes(text: string | number | undefined): number {
  if (text === undefined) return 0;
  return Math.ceil(parseQuantity(text));
}
