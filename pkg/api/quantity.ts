/**
 * Kubernetes-style resource quantities: CPU (`2`, `0.5`, `500m`) and memory (`64Mi`, `1G`,
 * `1e3`, `128974848`). Parsing is exact enough for scheduling: CPU in millicores, memory in bytes.
 */
import { ShoalError } from './errors.js';

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

const QUANTITY = /^([+]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([+-]?\d{1,3}))?$/;

/** True when `text` is a syntactically valid, non-negative quantity. */
export function isQuantity(text: string): boolean {
  return QUANTITY.test(text);
}

/** The value of a quantity in base units (cores, bytes). Throws InvalidArgument on bad syntax. */
export function parseQuantity(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new ShoalError('InvalidArgument', `invalid quantity ${text}: must be a finite number >= 0`);
    return text;
  }
  const m = QUANTITY.exec(text.trim());
  if (!m) throw new ShoalError('InvalidArgument', `invalid quantity "${text}" (want e.g. 500m, 2, 64Mi, 1G)`);
  const base = Number(m[1]);
  if (m[3] !== undefined) return base * 10 ** Number(m[3]);
  return base * (SUFFIX[m[2] ?? ''] ?? 1);
}

/** CPU quantity in millicores (rounded up, as Kubernetes does). */
export function parseCpuMillis(text: string | number): number {
  return Math.ceil(Math.round(parseQuantity(text) * 1e6) / 1e3);
}

/** Memory quantity in bytes (rounded up). */
export function parseMemoryBytes(text: string | number): number {
  return Math.ceil(parseQuantity(text));
}

/** `1500` → `1500m`, `2000` → `2`. */
export function formatCpuMillis(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Bytes in the largest binary unit that divides them exactly: `67108864` → `64Mi`. */
export function formatMemoryBytes(bytes: number): string {
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const f = SUFFIX[unit] ?? 1;
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${unit}`;
  }
  return String(bytes);
}

/** Human memory for tables: `1.5Gi`, `64Mi`. */
export function humanMemory(bytes: number): string {
  for (const unit of ['Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const f = SUFFIX[unit] ?? 1;
    if (bytes >= f) {
      const v = bytes / f;
      return `${Number.isInteger(v) ? v : v.toFixed(1)}${unit}`;
    }
  }
  return `${bytes}`;
}
