/**
 * Commits many compare-and-swap writes in store transactions of at most `batchSize` ops,
 * with up to `concurrency` transactions in flight. A transaction fails as a whole when one
 * compare does not hold: the failing op is set aside as a conflict (its object changed; the
 * caller's informer will bring the new version) and the rest of the batch is retried.
 *
 * Transactions in flight at once must touch distinct keys (each op's compare is on its own
 * key, so txns of different keys are independent and their order does not matter). Callers
 * that may write one key twice keep `concurrency: 1`.
 *
 * `BatchCommitter` is the streaming form: the caller submits batches as it produces them
 * (so only the batches in flight are encoded at once) and `submit` waits for a free slot,
 * which both bounds memory and lets the event loop run between batches.
 *
 * A store whose `txn` throws stops the commit: the first error is kept, later submits throw
 * it and `drain` rejects with it. That is how a leader's term ends mid-commit: its loops
 * commit through a `FencedStore` (fence.ts), whose txn throws FailedPrecondition ("leadership
 * lost") when the election key is gone, so nothing of the batch (nor of the batches after
 * it) is written or set aside as a conflict.
 */
import type { Store, TxnOp } from './store.js';

/** All a committer needs of a store (a Store, or a leader term's FencedStore). */
type TxnStore = Pick<Store, 'txn'>;

/**
 * Ops per transaction for the control loops: etcd's default `--max-txn-ops` (128) less the
 * one compare a leader's fence adds, so fenced batches run on an etcd started with defaults.
 */
export const TXN_BATCH_OPS = 127;

export interface BatchCommitResult {
  committed: number;
  /** Ops whose compare failed (the object changed or went away). */
  conflicts: TxnOp[];
  /** Highest store revision written. */
  revision: number;
  transactions: number;
}

export interface BatchCommitterOptions {
  /** Transactions in flight at once. Default 1. */
  concurrency?: number;
  signal?: AbortSignal;
  /** Called once per batch that committed, with the ops written and the txn's revision. */
  onCommitted?: (ops: readonly TxnOp[], revision: number) => void;
}

export class BatchCommitter {
  readonly result: BatchCommitResult = { committed: 0, conflicts: [], revision: 0, transactions: 0 };
  private readonly concurrency: number;
  private readonly inFlight = new Set<Promise<void>>();
  private error: { err: unknown } | undefined;

  constructor(
    private readonly store: TxnStore,
    private readonly opts: BatchCommitterOptions = {},
  ) {
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  }

  /** Starts committing `batch` once a slot is free; resolves when it has started. Throws a failure of an earlier batch. */
  async submit(batch: TxnOp[]): Promise<void> {
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    this.throwIfFailed();
    if (batch.length === 0 || this.opts.signal?.aborted) return;
    const p: Promise<void> = this.commitOne(batch).then(
      () => void this.inFlight.delete(p),
      (err: unknown) => {
        this.inFlight.delete(p);
        this.error ??= { err };
      },
    );
    this.inFlight.add(p);
  }

  /** Waits for every submitted batch; throws the first failure. */
  async drain(): Promise<BatchCommitResult> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    this.throwIfFailed();
    return this.result;
  }

  private throwIfFailed(): void {
    if (this.error !== undefined) throw this.error.err;
  }

  private async commitOne(ops: TxnOp[]): Promise<void> {
    let batch = ops;
    while (batch.length > 0) {
      if (this.opts.signal?.aborted) return;
      const r = await this.store.txn(batch);
      this.result.transactions++;
      if (r.succeeded) {
        this.result.committed += batch.length;
        this.result.revision = Math.max(this.result.revision, r.revision);
        this.opts.onCommitted?.(batch, r.revision);
        return;
      }
      const bad = r.failedIndex ?? 0;
      const op = batch[bad];
      if (op !== undefined) this.result.conflicts.push(op);
      batch = batch.filter((_, j) => j !== bad);
    }
  }
}

export async function commitInBatches(store: TxnStore, ops: readonly TxnOp[], batchSize = TXN_BATCH_OPS, signal?: AbortSignal, concurrency = 1): Promise<BatchCommitResult> {
  const committer = new BatchCommitter(store, { concurrency, ...(signal ? { signal } : {}) });
  try {
    for (let i = 0; i < ops.length; i += batchSize) {
      if (signal?.aborted) break;
      await committer.submit(ops.slice(i, i + batchSize));
    }
  } finally {
    // Never leave a txn running unobserved, also when a submit threw.
    await Promise.allSettled([committer.drain()]);
  }
  return committer.drain();
}
