/**
 * Commits many compare-and-swap writes in store transactions of at most `batchSize` ops.
 * A transaction fails as a whole when one compare does not hold: the failing op is set
 * aside as a conflict (its object changed; the caller's informer will bring the new
 * version) and the rest of the batch is retried.
 */
import type { Store, TxnOp } from '../store/index.js';

export interface BatchCommitResult {
  committed: number;
  /** Ops whose compare failed (the object changed or went away). */
  conflicts: TxnOp[];
  /** Highest store revision written. */
  revision: number;
  transactions: number;
}

export async function commitInBatches(store: Store, ops: readonly TxnOp[], batchSize = 128, signal?: AbortSignal): Promise<BatchCommitResult> {
  const out: BatchCommitResult = { committed: 0, conflicts: [], revision: 0, transactions: 0 };
  for (let i = 0; i < ops.length; i += batchSize) {
    let batch = ops.slice(i, i + batchSize);
    while (batch.length > 0) {
      if (signal?.aborted) return out;
      const r = await store.txn(batch);
      out.transactions++;
      if (r.succeeded) {
        out.committed += batch.length;
        out.revision = Math.max(out.revision, r.revision);
        break;
      }
      const bad = r.failedIndex ?? 0;
      const op = batch[bad];
      if (op !== undefined) out.conflicts.push(op);
      batch = batch.filter((_, j) => j !== bad);
    }
  }
  return out;
}
