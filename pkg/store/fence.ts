/**
 * Fencing: a leader's writes land only while its term lasts. A term is proven by its fence
 * (the election key and its createRevision, from `Election.campaign`); `FencedStore` is the
 * view of the store a term's control loops get, and it puts one `check` of the fence first in
 * every transaction they send. Once the key is gone (lease expired, resigned; another
 * controller may lead already) every such transaction fails as a whole in the store itself,
 * however late it arrives: a leader frozen by SIGSTOP, a long GC pause or a partition and
 * then resumed cannot land the decisions it had pending.
 *
 * When the fence is the compare that failed, `txn` throws ShoalError FailedPrecondition
 * ("leadership lost"), calls `onLost` once (the term ends) and from then on refuses every
 * transaction without a round trip. A failure of another op is reported as the store would,
 * with `failedIndex` counted in the caller's ops, so BatchCommitter's conflict handling is
 * unchanged. Cost: one compare per transaction, not one transaction per op.
 */
import { ShoalError } from '../api/index.js';
import type { Fence, Store, TermStore, TxnOp, TxnResult } from './store.js';

/** The compare that holds while the term of `fence` lasts. */
export function fenceCheck(fence: Fence): TxnOp {
  return { op: 'check', key: fence.key, expectCreateRevision: fence.createRevision };
}

export class FencedStore implements TermStore {
  private lostError: ShoalError | undefined;
  readonly get: TermStore['get'];
  readonly list: TermStore['list'];
  readonly watch: TermStore['watch'];
  readonly revision: TermStore['revision'];

  constructor(
    private readonly store: Store,
    readonly fence: Fence,
    private readonly onLost?: (err: ShoalError) => void,
  ) {
    // Reads need no fence: a stale read can only lead to a write, and that is fenced.
    this.get = (key) => store.get(key);
    this.list = (prefix) => store.list(prefix);
    this.watch = (prefix, opts) => store.watch(prefix, opts);
    this.revision = () => store.revision();
  }

  /** True once a transaction found the fence gone. */
  get lost(): boolean {
    return this.lostError !== undefined;
  }

  async txn(ops: TxnOp[]): Promise<TxnResult> {
    if (this.lostError !== undefined) throw this.lostError;
    const r = await this.store.txn([fenceCheck(this.fence), ...ops]);
    if (r.succeeded) return r;
    // Both stores name the first failed compare; the fence is first, so 0 means the term is over.
    const failed = r.failedIndex ?? 0;
    if (failed === 0) throw this.markLost();
    return { succeeded: false, revision: r.revision, failedIndex: failed - 1 };
  }

  private markLost(): ShoalError {
    if (this.lostError === undefined) {
      this.lostError = new ShoalError(
        'FailedPrecondition',
        `leadership lost: election key ${this.fence.key} (created at revision ${this.fence.createRevision}) is gone; this term's writes are refused`,
      );
      this.onLost?.(this.lostError);
    }
    return this.lostError;
  }
}
