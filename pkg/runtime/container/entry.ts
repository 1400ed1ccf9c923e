/**
 * The container manager's in-memory record of one container: its spec and state (mirrors of
 * config.json and state.json), the lock that serialises its lifecycle calls, its live cgroup
 * and exit watcher, and the promise that resolves when its current run has exited.
 */
import type { Cgroup } from '../cgroups/index.js';
import type { TerminalWaiter } from './terminals.js';
import type { ContainerSpec, ContainerState, NetworkAttachment } from './types.js';

export interface Entry {
  spec: ContainerSpec;
  state: ContainerState;
  lock: Promise<unknown>;
  cgroup: Cgroup | undefined;
  watch: AbortController | undefined;
  /** Resolves when the current run has exited and the exit is recorded. */
  exited: Promise<void>;
  markExited: () => void;
  network: NetworkAttachment['networks'];
  removed: boolean;
  /** Clients attached to a created terminal container, waiting for its start (terminals.ts). */
  terminalWaiters: TerminalWaiter[];
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Running or paused: a process exists. */
export const isLive = (s: ContainerState): boolean => s.Status === 'running' || s.Status === 'paused';

/** An entry with no run in flight (`exited` already resolved). */
export function newEntry(spec: ContainerSpec, state: ContainerState, network: NetworkAttachment['networks'] = {}): Entry {
  const done = deferred();
  done.resolve();
  return {
    spec,
    state,
    lock: Promise.resolve(),
    cgroup: undefined,
    watch: undefined,
    exited: done.promise,
    markExited: () => undefined,
    network,
    removed: false,
    terminalWaiters: [],
  };
}

/** A new run begins: `exited` now resolves when `markExited` is called. */
export function armExit(e: Entry): void {
  const d = deferred();
  e.exited = d.promise;
  e.markExited = d.resolve;
}
