/**
 * A container's records on disk, `<data>/containers/<id>/config.json` (ContainerSpec, fixed at
 * create) and `state.json` (ContainerState): the one place that writes and reads them.
 * Writes are atomic (util's writeFileAtomic: a crash or a full disk leaves the old file or the
 * new, never half of one; a full disk is a FailedPrecondition naming the filesystem). Reads
 * tell a missing file (a container half-made or half-removed: undefined) from a damaged one (not
 * JSON, or not the shape the manager needs: DataLoss naming the file), which restore reports
 * and skips instead of deleting what it cannot read.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errors, type ContainerStatus } from '../../api/index.js';
import { isNoSpace, readJsonStrict, writeJsonAtomic } from '../../util/index.js';
import type { ContainerSpec, ContainerState } from './types.js';

export const CONFIG_FILE = 'config.json';
export const STATE_FILE = 'state.json';

const STATUSES: readonly ContainerStatus[] = ['creating', 'created', 'running', 'paused', 'exited', 'dead', 'removing'];

export function writeState(dir: string, state: ContainerState): Promise<void> {
  return writeJsonAtomic(join(dir, STATE_FILE), state);
}

export function writeSpec(dir: string, spec: ContainerSpec): Promise<void> {
  return writeJsonAtomic(join(dir, CONFIG_FILE), spec);
}

/**
 * Marks a container as being removed, so a crash from here on is cleaned up at restore:
 * `state` (Status `removing`) is written; on a full disk, where `rm` must still work, config.json
 * is unlinked instead (restore discards a container without one too, and unlinking needs no space).
 */
export async function markRemoving(dir: string, state: ContainerState): Promise<void> {
  try {
    await writeState(dir, state);
  } catch (err) {
    if (!isNoSpace(err)) throw err;
    await unlink(join(dir, CONFIG_FILE)).catch((err2: NodeJS.ErrnoException) => {
      if (err2.code !== 'ENOENT') throw err2;
    });
  }
}

type Fields = Record<string, unknown>;

function isObject(v: unknown): v is Fields {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The first field of `o` that is not of its expected kind, as "Name (want string)". */
function badField(o: Fields, want: Record<string, 'string' | 'number' | 'boolean' | 'object' | 'array'>): string | undefined {
  for (const [k, kind] of Object.entries(want)) {
    const v = o[k];
    const ok = kind === 'object' ? isObject(v) : kind === 'array' ? Array.isArray(v) : typeof v === kind;
    if (!ok) return `${k} (want ${kind === 'object' ? 'an object' : kind === 'array' ? 'an array' : `a ${kind}`})`;
  }
  return undefined;
}

/** The ContainerSpec in config.json's JSON, checked as far as the manager relies on it; DataLoss otherwise. */
export function parseSpec(v: unknown, id: string, path: string): ContainerSpec {
  if (!isObject(v)) throw errors.dataLoss(`${path} does not hold a container config (not a JSON object)`);
  const bad = badField(v, { Id: 'string', Name: 'string', Created: 'string', Image: 'string', Config: 'object', HostConfig: 'object', LowerDirs: 'array', LogPath: 'string' });
  if (bad !== undefined) throw errors.dataLoss(`${path} does not hold a container config: bad or missing ${bad}`);
  if (v['Id'] !== id) throw errors.dataLoss(`${path} holds the config of container ${String(v['Id'])}, not of ${id}`);
  const config = v['Config'] as Fields;
  const badConfig = badField(config, { Labels: 'object', Env: 'array' });
  if (badConfig !== undefined) throw errors.dataLoss(`${path} does not hold a container config: bad or missing Config.${badConfig}`);
  return v as unknown as ContainerSpec;
}

/** The ContainerState in state.json's JSON, checked; DataLoss otherwise. */
export function parseState(v: unknown, path: string): ContainerState {
  if (!isObject(v)) throw errors.dataLoss(`${path} does not hold a container state (not a JSON object)`);
  if (!STATUSES.includes(v['Status'] as ContainerStatus)) throw errors.dataLoss(`${path} holds no known container status (Status ${JSON.stringify(v['Status'])})`);
  // Half-made or half-removed: only the Status matters (the container goes).
  if (v['Status'] === 'creating' || v['Status'] === 'removing') return v as unknown as ContainerState;
  const bad = badField(v, { Pid: 'number', MonitorPid: 'number', PidStartTime: 'string', ExitCode: 'number', StartedAt: 'string', FinishedAt: 'string' });
  if (bad !== undefined) throw errors.dataLoss(`${path} does not hold a container state: bad or missing ${bad}`);
  return v as unknown as ContainerState;
}

export interface ContainerRecords {
  /** undefined: missing (or damaged, then in `damaged`). */
  spec: ContainerSpec | undefined;
  state: ContainerState | undefined;
  /** One error per damaged or unreadable file, each naming the file. */
  damaged: Error[];
}

/**
 * Both records of container `id` in `dir`. A missing one is undefined (half-made or
 * half-removed); a damaged one (not JSON, e.g. truncated, or not the right shape: DataLoss) or
 * unreadable one is undefined too, with its error in `damaged`.
 */
export async function readRecords(dir: string, id: string): Promise<ContainerRecords> {
  const damaged: Error[] = [];
  const read = async <T>(path: string, parse: (v: unknown) => T): Promise<T | undefined> => {
    try {
      const raw = await readJsonStrict(path);
      return raw === undefined ? undefined : parse(raw);
    } catch (err) {
      damaged.push(err instanceof Error ? err : new Error(String(err)));
      return undefined;
    }
  };
  const specPath = join(dir, CONFIG_FILE);
  const statePath = join(dir, STATE_FILE);
  const spec = await read(specPath, (v) => parseSpec(v, id, specPath));
  const state = await read(statePath, (v) => parseState(v, statePath));
  return { spec, state, damaged };
}
