/** Small file helpers shared by the v1 and v2 implementations. */
import { readFile, rmdir, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { ShoalError } from '../../api/index.js';
import type { Cgroup, CgroupLimits, CgroupOps } from './types.js';

export const defaultOps: CgroupOps = {
  kill: (pid, signal) => {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  },
  removeDir: async (path) => {
    // A cgroup that just lost its last task may report EBUSY for a moment.
    for (let i = 0; ; i++) {
      try {
        await rmdir(path);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || i >= 50) throw err;
        await delay(20);
      }
    }
  },
  sleep: (ms) => delay(ms),
};

export function resolveOps(ops: Partial<CgroupOps> | undefined): CgroupOps {
  return { ...defaultOps, ...ops };
}

export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function readInt(path: string): Promise<number> {
  const t = await readText(path);
  if (t === undefined) return 0;
  const v = t.trim();
  if (v === 'max' || v === '') return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control) into a map. */
export function parseFlatKeyed(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) out.set(k, Number(v));
  }
  return out;
}

export async function writeCgroupFile(path: string, value: string): Promise<void> {
  try {
    await writeFile(path, value);
  } catch (err) {
    throw new ShoalError('Internal', `cgroup: cannot write ${JSON.stringify(value)} to ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export async function readPids(file: string): Promise<number[]> {
  const t = await readText(file);
  if (!t) return [];
  return t
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Cgroup names are single path components: no `/`, no `..`. */
export function checkName(name: string, what: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.includes('..')) {
    throw new ShoalError('InvalidArgument', `invalid cgroup ${what} ${JSON.stringify(name)}: want letters, digits, '_', '.', '-'`);
  }
}

/** Sets the limits of a cgroup just made; when that fails the cgroup goes again and the error is rethrown. */
export async function applyLimitsOrDestroy<T extends Cgroup>(cg: T, limits: CgroupLimits): Promise<T> {
  try {
    await cg.update(limits);
  } catch (err) {
    await cg.destroy().catch(() => undefined);
    throw err;
  }
  return cg;
}

/** Kill everything, then poll until no task is left (bounded). */
export async function killAndWait(
  ops: CgroupOps,
  listPids: () => Promise<number[]>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<void> {
  for (let i = 0; i < 500; i++) {
    signal?.throwIfAborted();
    const pids = await listPids();
    if (pids.length === 0) return;
    for (const pid of pids) ops.kill(pid, 'SIGKILL');
    await ops.sleep(i < 10 ? 5 : 20);
  }
  throw new ShoalError('Timeout', `cgroup ${what}: tasks still alive after SIGKILL`);
}
