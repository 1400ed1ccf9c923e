/**
 * The scheduler's thin loop: event-driven passes over the informers' caches. A pass takes
 * every pending task, places them with the pure `schedule`, and commits assignments in
 * batched transactions of CAS updates (`spec.nodeName`, `status.state: assigned`). Tasks
 * that fit nowhere get `status.message` "no node fits: ..." (written only when it changes)
 * and are retried on the next pass, which runs when nodes change or resources are freed.
 *
 * Committed assignments are "assumed" until the task informer reflects them, so a pass that
 * runs before the watch catches up neither re-places them nor forgets their resources.
 */
import { isTerminal, type Node, type Task } from '../api/index.js';
import type { Cached, Informer, TxnOp, Store } from '../store/index.js';
import { commitInBatches } from './batch-commit.js';
import { schedulerMetrics } from './metrics.js';
import { buildNodeInfos } from './node-info.js';
import { schedule } from './schedule.js';
import { encodeObject, taskKey } from './store-codec.js';

export interface SchedulerLoopOptions {
  store: Store;
  tasks: Informer<Task>;
  nodes: Informer<Node>;
  signal: AbortSignal;
  /** Ops per transaction. Default 128. */
  batchSize?: number;
  /** Wait this long after an event before a pass, to batch bursts. Default 10 ms. */
  debounceMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
  /** Called after each pass (tests, benchmark). */
  onPass?: (p: { placed: number; unschedulable: number; conflicts: number; transactions: number }) => void;
}

export function isPending(t: Task): boolean {
  return (t.status.state === 'pending' || t.status.state === 'new') && t.spec.desiredState === 'running';
}

export async function runSchedulerLoop(opts: SchedulerLoopOptions): Promise<void> {
  const { store, tasks, nodes, signal } = opts;
  const now = opts.now ?? Date.now;
  const debounceMs = opts.debounceMs ?? 10;
  let dirty = true;
  let wake: (() => void) | undefined;
  let unschedulableCount = 0;
  /** Assignments committed at a revision the informer may not show yet. */
  const assumed = new Map<string, { task: Task; revision: number }>();
  const kick = (): void => {
    dirty = true;
    wake?.();
  };
  const offTasks = tasks.addHandlers({
    onAdd: (c) => {
      if (isPending(c.object)) kick();
    },
    onUpdate: (prev, cur) => {
      // Also our own "no node fits" writes: one extra pass that writes nothing.
      if (isPending(cur.object)) kick();
      else if (unschedulableCount > 0 && isTerminal(cur.object.status.state) && !isTerminal(prev.object.status.state)) kick();
    },
    onDelete: () => {
      if (unschedulableCount > 0) kick();
    },
  });
  const offNodes = nodes.addHandlers({ onAdd: kick, onUpdate: kick, onDelete: kick });
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.all([tasks.waitForSync(signal), nodes.waitForSync(signal)]);
    while (!signal.aborted) {
      if (!dirty) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      if (debounceMs > 0) await sleep(debounceMs, signal);
      if (signal.aborted) break;
      dirty = false;
      try {
        const r = await pass();
        unschedulableCount = r.unschedulable;
        opts.onPass?.(r);
      } catch (err) {
        opts.onError?.(err);
        await sleep(500, signal);
        dirty = true;
      }
    }
  } finally {
    offTasks();
    offNodes();
    signal.removeEventListener('abort', onAbort);
  }

  async function pass(): Promise<{ placed: number; unschedulable: number; conflicts: number; transactions: number }> {
    const end = schedulerMetrics.passSeconds.startTimer();
    const all: Task[] = [];
    const pending: Cached<Task>[] = [];
    for (const c of tasks.list()) {
      const a = assumed.get(c.key);
      if (a !== undefined) {
        if (c.modRevision >= a.revision) assumed.delete(c.key);
        else {
          all.push(a.task);
          continue;
        }
      }
      all.push(c.object);
      if (isPending(c.object)) pending.push(c);
    }
    for (const [k, a] of assumed) if (tasks.get(k) === undefined && tasks.revision >= a.revision) assumed.delete(k);
    const infos = buildNodeInfos(
      nodes.list().map((n) => n.object),
      all,
    );
    const byName = new Map(pending.map((c) => [c.key, c]));
    const result = schedule(
      pending.map((c) => c.object),
      infos,
    );
    const stamp = new Date(now()).toISOString();
    const ops: TxnOp[] = [];
    const placedTasks = new Map<string, Task>();
    for (const a of result.assignments) {
      const key = taskKey(a.task);
      const c = byName.get(key);
      if (c === undefined) continue;
      const { message: _m, reason: _r, ...status } = a.task.status;
      const t: Task = { ...a.task, spec: { ...a.task.spec, nodeName: a.nodeName }, status: { ...status, state: 'assigned', timestamp: stamp } };
      placedTasks.set(key, t);
      ops.push({ op: 'update', key, value: encodeObject(t), expectModRevision: c.modRevision });
    }
    for (const u of result.unschedulable) {
      if (u.task.status.message === u.reason) continue;
      const key = taskKey(u.task);
      const c = byName.get(key);
      if (c === undefined) continue;
      const t: Task = { ...u.task, status: { ...u.task.status, message: u.reason, reason: 'Unschedulable' } };
      ops.push({ op: 'update', key, value: encodeObject(t), expectModRevision: c.modRevision });
    }
    const commit = await commitInBatches(store, ops, opts.batchSize ?? 128, signal);
    const conflicted = new Set(commit.conflicts.map((op) => op.key));
    let placed = 0;
    const committedAt = now();
    for (const [key, t] of placedTasks) {
      if (conflicted.has(key)) continue;
      placed++;
      const pendingSince = Date.parse(byName.get(key)?.object.status.timestamp ?? '');
      if (Number.isFinite(pendingSince)) schedulerMetrics.latency.observe(Math.max(0, committedAt - pendingSince) / 1000);
      assumed.set(key, { task: t, revision: commit.revision });
    }
    // A conflicting task changed under us: the informer brings its new version (and a pass if still pending).
    schedulerMetrics.placements.inc(placed);
    schedulerMetrics.conflicts.inc(commit.conflicts.length);
    schedulerMetrics.unschedulable.set(result.unschedulable.length);
    end();
    return { placed, unschedulable: result.unschedulable.length, conflicts: commit.conflicts.length, transactions: commit.transactions };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
