/**
 * The files the monitor writes into a container's state dir, and /proc liveness checks.
 * `exit.json` and `pid.json` are written atomically (tmp + rename) by the helper.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../../api/index.js';
import type { ExitStatus } from './driver.js';
import { readJsonStrict, writeFileAtomic } from '../../util/index.js';

export const EXIT_FILE = 'exit.json';
export const PID_FILE = 'pid.json';
export const STDIN_FIFO = 'stdin';
/** The monitor's socket of a terminal container (native/runtime/console.c). */
export const ATTACH_SOCKET = 'attach.sock';

export interface PidFile {
  pid: number;
  pidStartTime: string;
  monitorPid: number;
  monitorStartTime: string;
}

export function parseExitStatus(v: unknown, path = EXIT_FILE): ExitStatus {
  const o = v as Partial<Record<keyof ExitStatus, unknown>> | null;
  if (!o || typeof o !== 'object' || typeof o.exitCode !== 'number' || typeof o.finishedAt !== 'string') {
    throw new ShoalError('DataLoss', `${path} does not hold an exit status`);
  }
  return { exitCode: o.exitCode, finishedAt: o.finishedAt, ...(typeof o.signal === 'string' ? { signal: o.signal } : {}) };
}

export async function readExitFile(stateDir: string): Promise<ExitStatus | undefined> {
  const path = join(stateDir, EXIT_FILE);
  const v = await readJsonStrict(path);
  return v === undefined ? undefined : parseExitStatus(v, path);
}

export async function readPidFile(stateDir: string): Promise<PidFile | undefined> {
  const path = join(stateDir, PID_FILE);
  const v = (await readJsonStrict(path)) as Partial<PidFile> | undefined;
  if (v === undefined) return undefined;
  if (typeof v.pid !== 'number' || typeof v.monitorPid !== 'number') throw new ShoalError('DataLoss', `${path} is malformed`);
  return { pid: v.pid, pidStartTime: String(v.pidStartTime ?? ''), monitorPid: v.monitorPid, monitorStartTime: String(v.monitorStartTime ?? '') };
}

/** Records an exit the monitor could not (it died first); same atomic write as the helper's. */
export async function writeExitFile(stateDir: string, st: ExitStatus): Promise<void> {
  await writeFileAtomic(join(stateDir, EXIT_FILE), `${JSON.stringify(st)}\n`, 0o644);
}

/** Parses /proc/<pid>/stat text: state (field 3) and start time (field 22). */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(' ');
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { state, startTime };
}

/** Alive (not a zombie) and still the process that started at `startTime`. */
export async function processMatches(pid: number, startTime: string, procRoot = '/proc'): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  let text: string;
  try {
    text = await readFile(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const st = parseProcStat(text);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === '' || st.startTime === startTime;
}
