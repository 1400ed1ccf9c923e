/**
 * The Store contract: a versioned key-value store shaped after etcd (DESIGN.md section 5).
 * Two implementations (etcd, in-memory) pass one conformance suite. Revisions are etcd's
 * cluster-wide, monotonically increasing numbers; an object's `resourceVersion` is its key's
 * `modRevision` as a string.
 *
 * Errors (ShoalError codes): NotFound, AlreadyExists (create of a present key), Conflict
 * (compare-and-swap on a stale modRevision), Gone (watch from a compacted revision),
 * Unavailable (the store cannot be reached; retry), Canceled (the signal fired).
 */

export interface KeyValue {
  key: string;
  /** JSON text. */
  value: string;
  createRevision: number;
  modRevision: number;
}

export interface ListResult {
  items: KeyValue[];
  /** The store revision the list is consistent at; watch from `revision + 1`. */
  revision: number;
}

export type StoreEvent =
  | { type: 'put'; kv: KeyValue; prev?: KeyValue }
  | { type: 'delete'; key: string; modRevision: number; prev?: KeyValue };

/**
 * One operation of an atomic batch. `expectModRevision: 0` means "must not exist".
 * `check` writes nothing: it is a compare only, holding when the key exists with that
 * createRevision (`0`: when it does not exist). A leader's fence is one (see fence.ts).
 */
export type TxnOp =
  | { op: 'create'; key: string; value: string }
  | { op: 'update'; key: string; value: string; expectModRevision: number }
  | { op: 'delete'; key: string; expectModRevision?: number }
  | { op: 'check'; key: string; expectCreateRevision: number };

export interface TxnResult {
  /** True when every compare held and every op was applied atomically. */
  succeeded: boolean;
  revision: number;
  /** When it failed: the index of the first op whose compare did not hold. */
  failedIndex?: number;
}

export interface WatchOptions {
  /** First revision to deliver (inclusive). Absent: from now. */
  fromRevision?: number;
  signal: AbortSignal;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** Renew the lease now (one cheap keep-alive, no key write). Rejects with NotFound once expired. */
  keepAlive(): Promise<void>;
  /** Revoke: every key attached to the lease is deleted. */
  revoke(): Promise<void>;
}

/**
 * Proof of one leadership term: the winning candidate's election key and its createRevision.
 * The key lives as long as the term's lease; a transaction that checks it (fence.ts) cannot
 * land once the term is over, however late it reaches the store.
 */
export interface Fence {
  readonly key: string;
  readonly createRevision: number;
}

export interface Election {
  /** Resolves with the term's fence when this candidate has become leader; rejects with Canceled on abort. */
  campaign(signal: AbortSignal): Promise<Fence>;
  /** The current leader's value, if any. */
  leader(): Promise<string | undefined>;
  /** Aborted when leadership is lost (lease expired, resigned, store gone). */
  readonly lost: AbortSignal;
  resign(): Promise<void>;
}

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key under `prefix`, sorted by key, consistent at one revision. */
  list(prefix: string): Promise<ListResult>;
  /** Fails with AlreadyExists when the key is present. */
  create(key: string, value: string, opts?: { lease?: Lease }): Promise<KeyValue>;
  /** Compare-and-swap on modRevision: Conflict when stale, NotFound when absent. */
  update(key: string, value: string, expectModRevision: number, opts?: { lease?: Lease }): Promise<KeyValue>;
  /** Unconditional write (creates or replaces). */
  put(key: string, value: string, opts?: { lease?: Lease }): Promise<KeyValue>;
  /** Deletes; with `expectModRevision`, only if unchanged (Conflict otherwise). NotFound when absent. */
  delete(key: string, opts?: { expectModRevision?: number }): Promise<KeyValue>;
  /** Several writes at once, all or nothing (one etcd transaction). */
  txn(ops: TxnOp[]): Promise<TxnResult>;
  /**
   * Events under `prefix` from `fromRevision`, batched per revision, in order. The iterator
   * survives store disconnects (it resumes from the last delivered revision) and throws
   * ShoalError Gone when `fromRevision` has been compacted (the caller relists).
   */
  watch(prefix: string, opts: WatchOptions): AsyncIterable<StoreEvent[]>;
  /** Current store revision. */
  revision(): Promise<number>;
  grantLease(ttlSeconds: number): Promise<Lease>;
  election(name: string, candidateValue: string, ttlSeconds: number): Election;
  /** Compacts history up to `revision` (tests and maintenance). */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The part of a Store a leader's control loops use: reads, and writes only as transactions,
 * so a term's writes can all be fenced in one place (`FencedStore`). A Store is one as it is.
 */
export type TermStore = Pick<Store, 'get' | 'list' | 'watch' | 'revision' | 'txn'>;
