/**
 * A scheduler pass's pure part: the snapshot it reads and the plan it emits. Time comes in
 * as an argument; nothing here does I/O.
 *
 * - `AssumedAssignments` holds the assignments committed at a revision the task informer may
 *   not show yet; `passSnapshot` reads the informer's cache through it, so a pass that runs
 *   before the watch catches up neither re-places them nor forgets their resources.
 * - `planChunk` places one chunk of pending tasks with the pure `schedule` on the pass's node
 *   view (which `schedule` updates, so spread holds across chunks) and encodes the writes:
 *   CAS updates setting `spec.nodeName` and `status.state: assigned`, and for tasks that fit
 *   nowhere a "no node fits" message, written only when it changed.
 */
import type { Task } from '../api/index.js';
import { encodeObject, storeKeyOf, type Cached, type Informer, type TxnOp } from '../store/index.js';
import type { NodeInfo } from './node-info.js';
import { schedule } from './schedule.js';

export function isPending(t: Task): boolean {
  return (t.status.state === 'pending' || t.status.state === 'new') && t.spec.desiredState === 'running';
}

/** Assignments committed at a revision the informer may not show yet. */
export class AssumedAssignments {
  private readonly byKey = new Map<string, { task: Task; revision: number }>();

  /** `task` (as assigned) was committed at `revision`. */
  add(key: string, task: Task, revision: number): void {
    this.byKey.set(key, { task, revision });
  }

  /** Forgets what the informer now shows (or shows deleted); the assumed version of the rest. */
  resolve(key: string, informerRevision: number): Task | undefined {
    const a = this.byKey.get(key);
    if (a === undefined) return undefined;
    if (informerRevision >= a.revision) {
      this.byKey.delete(key);
      return undefined;
    }
    return a.task;
  }

  /** Drops the assumptions about tasks the informer no longer has once it passed their revision. */
  prune(tasks: Informer<Task>): void {
    for (const [k, a] of this.byKey) if (tasks.get(k) === undefined && tasks.revision >= a.revision) this.byKey.delete(k);
  }
}

export interface PassSnapshot {
  /** Every task as the pass sees it (assumed assignments in place of their stale versions). */
  all: Task[];
  /** The pending tasks, with the revisions their CAS writes expect. */
  pending: Cached<Task>[];
}

/** The tasks of one pass: the informer's cache read through the assumed assignments. */
export function passSnapshot(tasks: Informer<Task>, assumed: AssumedAssignments): PassSnapshot {
  const all: Task[] = [];
  const pending: Cached<Task>[] = [];
  for (const c of tasks.list()) {
    const stale = assumed.resolve(c.key, c.modRevision);
    if (stale !== undefined) {
      all.push(stale);
      continue;
    }
    all.push(c.object);
    if (isPending(c.object)) pending.push(c);
  }
  assumed.prune(tasks);
  return { all, pending };
}

/** A task assigned by a plan and not committed yet. */
export interface PlannedAssignment {
  /** The task as assigned. */
  task: Task;
  /** When it became pending (epoch ms; NaN when unknown), for the scheduling latency. */
  pendingSince: number;
}

export interface ChunkPlan {
  /** CAS updates, each key once: assignments, then changed "no node fits" messages. */
  ops: TxnOp[];
  /** Store key → the assignment, for every assignment in `ops`. */
  assigned: Map<string, PlannedAssignment>;
  /** Tasks of the chunk that fit nowhere. */
  unschedulable: number;
}

/** Places one chunk of pending tasks on `infos` (which it updates) and encodes the writes. */
export function planChunk(chunk: readonly Cached<Task>[], infos: Map<string, NodeInfo>, now: number): ChunkPlan {
  const byKey = new Map(chunk.map((c) => [c.key, c]));
  const result = schedule(
    chunk.map((c) => c.object),
    infos,
  );
  const stamp = new Date(now).toISOString();
  const ops: TxnOp[] = [];
  const assigned = new Map<string, PlannedAssignment>();
  for (const a of result.assignments) {
    const key = storeKeyOf(a.task);
    const c = byKey.get(key);
    if (c === undefined) continue;
    const { message: _m, reason: _r, ...status } = a.task.status;
    const t: Task = { ...a.task, spec: { ...a.task.spec, nodeName: a.nodeName }, status: { ...status, state: 'assigned', timestamp: stamp } };
    assigned.set(key, { task: t, pendingSince: Date.parse(a.task.status.timestamp ?? '') });
    ops.push({ op: 'update', key, value: encodeObject(t), expectModRevision: c.modRevision });
  }
  for (const u of result.unschedulable) {
    if (u.task.status.message === u.reason) continue;
    const key = storeKeyOf(u.task);
    const c = byKey.get(key);
    if (c === undefined) continue;
    const t: Task = { ...u.task, status: { ...u.task.status, message: u.reason, reason: 'Unschedulable' } };
    ops.push({ op: 'update', key, value: encodeObject(t), expectModRevision: c.modRevision });
  }
  return { ops, assigned, unschedulable: result.unschedulable.length };
}
