/**
 * The committer of a scheduler pass: writes each chunk's plan in batched transactions of CAS
 * updates through a BatchCommitter (up to `concurrency` txns in flight; `commit` waits for a
 * free slot, which bounds memory and gives the event loop turns). Every committed assignment
 * is counted, observed for the scheduling latency and assumed (with its own batch's revision)
 * until the informer shows it. A conflict is not retried here: the task changed, and the
 * informer brings its new version (and a new pass if it is still pending).
 */
import type { TermStore, BatchCommitResult, TxnOp } from '../store/index.js';
import { BatchCommitter } from '../store/index.js';
import { schedulerMetrics } from './metrics.js';
import type { AssumedAssignments, ChunkPlan, PlannedAssignment } from './scheduler-plan.js';

export interface PlanCommitterOptions {
  /** The leader term's FencedStore: a lost fence fails the txn, and `drain` throws it. */
  store: TermStore;
  assumed: AssumedAssignments;
  /** Ops per transaction. */
  batchSize: number;
  /** Transactions in flight at once. */
  concurrency: number;
  signal: AbortSignal;
  now: () => number;
}

export class PlanCommitter {
  /** Assignments committed so far. */
  placed = 0;
  /** Planned and not committed yet: store key → assignment. */
  private readonly waiting = new Map<string, PlannedAssignment>();
  private readonly committer: BatchCommitter;

  constructor(private readonly opts: PlanCommitterOptions) {
    this.committer = new BatchCommitter(opts.store, {
      concurrency: opts.concurrency,
      signal: opts.signal,
      onCommitted: (ops, revision) => this.committed(ops, revision),
    });
  }

  /** Submits a chunk's writes in batches; resolves once the last batch has a txn slot. */
  async commit(plan: ChunkPlan): Promise<void> {
    for (const [key, a] of plan.assigned) this.waiting.set(key, a);
    // Every key appears once per pass, so batches in flight at once never touch the same key.
    const { batchSize } = this.opts;
    for (let j = 0; j < plan.ops.length; j += batchSize) await this.committer.submit(plan.ops.slice(j, j + batchSize));
  }

  /** Waits for the txns in flight; throws the first store failure. */
  drain(): Promise<BatchCommitResult> {
    return this.committer.drain();
  }

  private committed(ops: readonly TxnOp[], revision: number): void {
    const committedAt = this.opts.now();
    let n = 0;
    for (const op of ops) {
      const p = this.waiting.get(op.key);
      if (p === undefined) continue;
      this.waiting.delete(op.key);
      n++;
      if (Number.isFinite(p.pendingSince)) schedulerMetrics.latency.observe(Math.max(0, committedAt - p.pendingSince) / 1000);
      this.opts.assumed.add(op.key, p.task, revision);
    }
    this.placed += n;
    schedulerMetrics.placements.inc(n);
  }
}
