/** Parsing of the user-facing units of `run`: memory sizes, CPU counts, signals. Pure. */
import { constants } from 'node:os';
import { ShoalError } from '../../api/index.js';

const MEM_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's RAMInBytes: `64m`, `1g`, `512k`, `1.5G`, `100mb`, `1048576` (binary units). */
export function parseMemory(input: string | number, field = 'memory'): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw invalid(field, String(input), 'a non-negative number of bytes');
    return input;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)b?\s*$/i.exec(input);
  if (!m) throw invalid(field, input, 'a size like 64m, 1g or 1048576');
  const n = Number(m[1]) * MEM_UNITS[m[2]!.toLowerCase()]!;
  if (!Number.isFinite(n) || n > Number.MAX_SAFE_INTEGER) throw invalid(field, input, 'a smaller size');
  return Math.floor(n);
}

/** `--cpus 0.5` → NanoCpus 500000000. */
export function parseCpus(input: string | number, field = 'cpus'): number {
  const n = typeof input === 'number' ? input : Number(input);
  if (typeof input === 'string' && !/^\s*\d*\.?\d+\s*$/.test(input)) throw invalid(field, input, 'a number of CPUs like 0.5 or 2');
  if (!Number.isFinite(n) || n < 0 || n > 1024) throw invalid(field, String(input), 'a number of CPUs between 0 and 1024');
  return Math.round(n * 1e9);
}

/** NanoCpus → CFS quota for a 100 ms period (minimum 1 ms, as the kernel requires). */
export function nanoCpusToQuota(nanoCpus: number, periodUs = 100_000): number {
  return Math.max(1000, Math.round((nanoCpus * periodUs) / 1e9));
}

/** `KILL`, `SIGKILL`, `9`, `sigterm` → the Node signal name. */
export function parseSignal(input: string | number, field = 'signal'): NodeJS.Signals {
  const sigs = constants.signals as Record<string, number>;
  if (typeof input === 'number' || /^\d+$/.test(String(input).trim())) {
    const num = Number(input);
    const name = Object.keys(sigs).find((k) => sigs[k] === num);
    if (!name) throw invalid(field, String(input), 'a signal name or number');
    return name as NodeJS.Signals;
  }
  const up = String(input).trim().toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  if (!(name in sigs)) throw invalid(field, String(input), 'a signal name like SIGTERM, KILL or 9');
  return name as NodeJS.Signals;
}

export function signalNumber(sig: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[sig] ?? 0;
}

function invalid(field: string, value: string, want: string): ShoalError {
  return new ShoalError('Invalid', `invalid ${field} ${JSON.stringify(value)}: want ${want}`, {
    causes: [{ field, reason: 'FieldValueInvalid', message: `want ${want}` }],
  });
}
