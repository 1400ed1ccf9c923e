/**
 * Restore at start-up: what an earlier agent left under `<data>/containers` and
 * `<run>/containers` is taken back. Half-made (`creating`, or a record missing) and
 * half-removed (`removing`) containers are removed; stopped ones are listed again; running ones
 * whose PID is still the same process are re-adopted (same PID, no restart) and their exit
 * watched, and exits that happened while no agent ran are recorded (an unreadable exit.json is
 * a lost exit). A container whose config.json or state.json is damaged (truncated, not JSON,
 * not the right shape) is reported (its id and the file) and skipped: its files, cgroup and
 * runtime dir stay as they are for someone to look at, and the others are restored. Then
 * cgroups and runtime dirs no container owns are removed. `restoreVerdict` is the pure
 * decision; `restoreContainers` is the shell, working through the manager's `RestoreHost`.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupManager } from '../cgroups/index.js';
import type { ExitStatus, RuntimeDriver } from '../helper/driver.js';
import { armExit, isLive, newEntry, type Entry } from './entry.js';
import { readRecords } from './records.js';
import type { ContainerSpec, ContainerState } from './types.js';

/** Container ids (and the cgroups named after them) are 64 lowercase hex characters. */
export const CONTAINER_ID_RE = /^[0-9a-f]{64}$/;

/** What restoring needs of the container manager. */
export interface RestoreHost {
  /** `<data>/containers` */
  containersDir: string;
  /** `<run>/containers` */
  runContainersDir: string;
  driver: Pick<RuntimeDriver, 'isRunning' | 'readExit'>;
  cgroups: Pick<CgroupManager, 'list' | 'open'>;
  /** Whether a container of this id was restored. */
  has(id: string): boolean;
  /** Adds a restored container to the manager's table (by id and name). */
  register(e: Entry): void;
  /** Removes every trace of a container (network, cgroup, runtime and data dirs). */
  cleanup(id: string, spec: ContainerSpec | undefined): Promise<void>;
  /** Watches the exit of a re-adopted container. */
  watchExit(e: Entry): void;
  /** Records an exit (`undefined`: lost, with `lostMessage` as the Error). */
  recordExit(e: Entry, st: ExitStatus | undefined, lostMessage?: string): Promise<void>;
  onError?: ((err: unknown, what: string) => void) | undefined;
  /** A container skipped because a record of it is damaged: `err` names the file. */
  onSkipped?: ((id: string, err: Error) => void) | undefined;
}

/**
 * `discard`: half-made (a record missing, or `creating`) or half-removed (`removing`): finish
 * the job; `skip`: a record is damaged: leave everything as it is; `stopped`: created or
 * exited, nothing to watch; `live`: running or paused when the last agent stopped (its process
 * may be gone since).
 */
export type RestoreVerdict = 'discard' | 'skip' | 'stopped' | 'live';

export function restoreVerdict(spec: ContainerSpec | undefined, state: ContainerState | undefined, damaged = false): RestoreVerdict {
  // Its own state says it was half-made or half-removed: whatever else is damaged goes too.
  if (state?.Status === 'creating' || state?.Status === 'removing') return 'discard';
  if (damaged) return 'skip';
  if (!spec || !state) return 'discard';
  return isLive(state) ? 'live' : 'stopped';
}

/** Restores every container found on disk, then removes cgroups and runtime dirs nobody owns. */
export async function restoreContainers(h: RestoreHost): Promise<void> {
  const ids = await readdir(h.containersDir).catch(() => [] as string[]);
  const skipped = new Set<string>();
  for (const id of ids) {
    if (!CONTAINER_ID_RE.test(id)) continue;
    try {
      if ((await restoreOne(h, id)) === 'skip') skipped.add(id);
    } catch (err) {
      // Whatever went wrong, the container's traces stay: only what is known to be gone is swept.
      skipped.add(id);
      h.onError?.(err, `restoring container ${id}`);
    }
  }
  const owned = (id: string): boolean => h.has(id) || skipped.has(id);
  // cgroups whose container is gone (a crash between creating the cgroup and recording the start, or during rm).
  for (const name of await h.cgroups.list().catch(() => [] as string[])) {
    if (CONTAINER_ID_RE.test(name) && !owned(name)) {
      await h.cgroups
        .open(name)
        .destroy()
        .catch((err) => h.onError?.(err, `removing leftover cgroup ${name}`));
    }
  }
  // Runtime dirs whose container is gone (crash between the two rm calls of a remove).
  for (const id of await readdir(h.runContainersDir).catch(() => [] as string[])) {
    if (!owned(id)) await rm(join(h.runContainersDir, id), { recursive: true, force: true });
  }
}

async function restoreOne(h: RestoreHost, id: string): Promise<RestoreVerdict> {
  const { spec, state, damaged } = await readRecords(join(h.containersDir, id), id);
  const verdict = restoreVerdict(spec, state, damaged.length > 0);
  if (verdict === 'skip') {
    for (const err of damaged) h.onSkipped?.(id, err);
    return verdict;
  }
  if (verdict === 'discard' || !spec || !state) {
    // Half-made or half-removed: finish the job.
    await h.cleanup(id, spec);
    return verdict;
  }
  const e = newEntry(spec, state, verdict === 'live' ? (state.Network?.networks ?? {}) : {});
  h.register(e);
  if (verdict === 'stopped') return verdict;
  armExit(e);
  e.cgroup = h.cgroups.open(id);
  if (state.Pid > 0 && (await h.driver.isRunning(state.Pid, state.PidStartTime))) {
    h.watchExit(e); // re-adopt: same PID, no restart
    return verdict;
  }
  let lost = 'the container exited while the agent was down and its exit status was lost';
  const st = await h.driver.readExit(join(h.runContainersDir, id)).catch((err: unknown) => {
    lost = `the container exited while the agent was down and its exit status is unreadable: ${(err as Error).message}`;
    h.onError?.(err, `reading the exit status of container ${id}`);
    return undefined;
  });
  await h.recordExit(e, st, lost);
  return verdict;
}
