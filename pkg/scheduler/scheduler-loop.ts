/**
 * The scheduler's thin loop: event-driven passes over the informers' caches. A pass takes
 * every pending task, builds one node view, and then works in chunks (default 2,000 tasks):
 * each chunk is placed with the pure `schedule`, encoded, and committed in batched
 * transactions of CAS updates (`spec.nodeName`, `status.state: assigned`), up to
 * `concurrency` txns in flight; the event loop gets a turn between chunks and while waiting
 * for a txn slot, so the API server stays responsive during a 150,000-task pass. Tasks
 * that fit nowhere get `status.message` "no node fits: ..." (written only when it changes)
 * and are retried on the next pass, which runs when nodes change or resources are freed.
 *
 * Committed assignments are "assumed" until the task informer reflects them, so a pass that
 * runs before the watch catches up neither re-places them nor forgets their resources.
 */
import { isTerminal, type Node, type Task } from '../api/index.js';
import { BatchCommitter, encodeObject, storeKeyOf, type Cached, type Informer, type TxnOp, type Store } from '../store/index.js';
import { schedulerMetrics } from './metrics.js';
import { buildNodeInfos } from './node-info.js';
import { schedule } from './schedule.js';
import { setTimeout as delay } from 'node:timers/promises';

export interface SchedulerLoopOptions {
  store: Store;
  tasks: Informer<Task>;
  nodes: Informer<Node>;
  signal: AbortSignal;
  /** Ops per transaction. Default 128. */
  batchSize?: number;
  /** Transactions in flight at once. Default 3. */
  concurrency?: number;
  /**
   * Pending tasks placed, encoded and committed per chunk of a pass. Default 2,000: bounds the
   * synchronous work between two turns of the event loop and the JSON held at once.
   */
  chunkSize?: number;
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
  const batchSize = opts.batchSize ?? 128;
  const concurrency = opts.concurrency ?? 3;
  const chunkSize = Math.max(1, opts.chunkSize ?? 2000);
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
    // One view per pass, shared by its chunks: `schedule` adds each chunk's placements to it.
    const infos = buildNodeInfos(
      nodes.list().map((n) => n.object),
      all,
    );
    all.length = 0;
    if (pending.length === 0) {
      schedulerMetrics.unschedulable.set(0);
      end();
      return { placed: 0, unschedulable: 0, conflicts: 0, transactions: 0 };
    }
    await breathe();
    /** Placed in this pass and not committed yet: key → (assigned task, when it became pending). */
    const placedTasks = new Map<string, { task: Task; pendingSince: number }>();
    let placed = 0;
    const committer = new BatchCommitter(store, {
      concurrency,
      signal,
      onCommitted: (ops, revision) => {
        const committedAt = now();
        let n = 0;
        for (const op of ops) {
          const p = placedTasks.get(op.key);
          if (p === undefined) continue;
          placedTasks.delete(op.key);
          n++;
          if (Number.isFinite(p.pendingSince)) schedulerMetrics.latency.observe(Math.max(0, committedAt - p.pendingSince) / 1000);
          assumed.set(op.key, { task: p.task, revision });
        }
        placed += n;
        schedulerMetrics.placements.inc(n);
      },
    });
    let unschedulable = 0;
    for (let i = 0; i < pending.length && !signal.aborted; i += chunkSize) {
      const chunk = pending.slice(i, i + chunkSize);
      const byName = new Map(chunk.map((c) => [c.key, c]));
      const result = schedule(
        chunk.map((c) => c.object),
        infos,
      );
      unschedulable += result.unschedulable.length;
      const stamp = new Date(now()).toISOString();
      // Encoded here, per chunk, so a pass never holds the JSON of more than one chunk plus the txns in flight.
      const ops: TxnOp[] = [];
      for (const a of result.assignments) {
        const key = storeKeyOf(a.task);
        const c = byName.get(key);
        if (c === undefined) continue;
        const { message: _m, reason: _r, ...status } = a.task.status;
        const t: Task = { ...a.task, spec: { ...a.task.spec, nodeName: a.nodeName }, status: { ...status, state: 'assigned', timestamp: stamp } };
        placedTasks.set(key, { task: t, pendingSince: Date.parse(a.task.status.timestamp ?? '') });
        ops.push({ op: 'update', key, value: encodeObject(t), expectModRevision: c.modRevision });
      }
      for (const u of result.unschedulable) {
        if (u.task.status.message === u.reason) continue;
        const key = storeKeyOf(u.task);
        const c = byName.get(key);
        if (c === undefined) continue;
        const t: Task = { ...u.task, status: { ...u.task.status, message: u.reason, reason: 'Unschedulable' } };
        ops.push({ op: 'update', key, value: encodeObject(t), expectModRevision: c.modRevision });
      }
      // Every key appears once per pass, so batches in flight at once never touch the same key.
      for (let j = 0; j < ops.length; j += batchSize) await committer.submit(ops.slice(j, j + batchSize));
      await breathe();
    }
    const commit = await committer.drain();
    // A conflicting task changed under us: the informer brings its new version (and a pass if still pending).
    schedulerMetrics.conflicts.inc(commit.conflicts.length);
    schedulerMetrics.unschedulable.set(unschedulable);
    end();
    return { placed, unschedulable, conflicts: commit.conflicts.length, transactions: commit.transactions };
  }
}

/** Lets I/O callbacks (API requests, watch events) run between chunks of a pass. */
function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  // node's timer rejects with AbortError on abort; here an abort just ends the wait early.
  return delay(ms, undefined, { signal }).catch(() => undefined);
}
