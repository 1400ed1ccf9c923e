/**
 * MemoryStore: the Store contract in memory, with etcd's semantics (one global revision,
 * history for watches until compacted, leases that delete their keys on expiry). Used by
 * unit tests of the control loops and by the in-memory scheduler benchmark.
 */
import { ShoalError } from '../api/index.js';
import { AsyncQueue } from './async-queue.js';
import { systemClock, type Clock } from './clock.js';
import { StoreElection } from './election.js';
import type { Election, KeyValue, Lease, ListResult, Store, StoreEvent, TxnOp, TxnResult, WatchOptions } from './store.js';

export interface MemoryStoreOptions {
  clock?: Clock;
  /** Revisions of history kept for watches before the oldest are compacted automatically. Default 100,000. */
  maxHistory?: number;
}

interface Entry {
  kv: KeyValue;
  lease: string | undefined;
}

interface LeaseState {
  id: string;
  ttlSeconds: number;
  keys: Set<string>;
  cancelTimer: () => void;
}

interface Watcher {
  prefix: string;
  queue: AsyncQueue<StoreEvent[]>;
}

export class MemoryStore implements Store {
  private readonly clock: Clock;
  private readonly maxHistory: number;
  private readonly data = new Map<string, Entry>();
  private readonly history: { revision: number; events: StoreEvent[] }[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly leases = new Map<string, LeaseState>();
  private rev = 1;
  private compactedAt = 0;
  private nextLease = 0x1000;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.maxHistory = opts.maxHistory ?? 100_000;
  }

  /** Number of open watches (tests check that aborted watches leave none behind). */
  get watcherCount(): number {
    return this.watchers.size;
  }

  private check(): void {
    if (this.closed) throw new ShoalError('Unavailable', 'store is closed', { retryAfterSeconds: 1 });
  }

  get(key: string): Promise<KeyValue | undefined> {
    return run(() => {
      this.check();
      return this.data.get(key)?.kv;
    });
  }

  list(prefix: string): Promise<ListResult> {
    return run(() => {
      this.check();
      const items: KeyValue[] = [];
      for (const [k, e] of this.data) if (k.startsWith(prefix)) items.push(e.kv);
      items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return { items, revision: this.rev };
    });
  }

  create(key: string, value: string, opts?: { lease?: Lease }): Promise<KeyValue> {
    return run(() => {
      this.check();
      if (this.data.has(key)) throw new ShoalError('AlreadyExists', `key ${key} already exists`);
      return this.write([{ kind: 'put', key, value, lease: this.leaseId(opts?.lease) }]).get(key) as KeyValue;
    });
  }

  update(key: string, value: string, expectModRevision: number, opts?: { lease?: Lease }): Promise<KeyValue> {
    return run(() => {
      this.check();
      const cur = this.data.get(key);
      if (cur === undefined) throw new ShoalError('NotFound', `key ${key} not found`);
      if (cur.kv.modRevision !== expectModRevision) {
        throw new ShoalError('Conflict', `key ${key} was modified (revision ${cur.kv.modRevision}, expected ${expectModRevision})`);
      }
      return this.write([{ kind: 'put', key, value, lease: this.leaseId(opts?.lease) }]).get(key) as KeyValue;
    });
  }

  put(key: string, value: string, opts?: { lease?: Lease }): Promise<KeyValue> {
    return run(() => {
      this.check();
      return this.write([{ kind: 'put', key, value, lease: this.leaseId(opts?.lease) }]).get(key) as KeyValue;
    });
  }

  delete(key: string, opts?: { expectModRevision?: number }): Promise<KeyValue> {
    return run(() => {
      this.check();
      const cur = this.data.get(key);
      if (cur === undefined) throw new ShoalError('NotFound', `key ${key} not found`);
      if (opts?.expectModRevision !== undefined && cur.kv.modRevision !== opts.expectModRevision) {
        throw new ShoalError('Conflict', `key ${key} was modified (revision ${cur.kv.modRevision}, expected ${opts.expectModRevision})`);
      }
      this.write([{ kind: 'delete', key }]);
      return cur.kv;
    });
  }

  txn(ops: TxnOp[]): Promise<TxnResult> {
    return run(() => {
      this.check();
      checkDistinctKeys(ops);
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i] as TxnOp;
        if (!compareHolds(op, this.data.get(op.key)?.kv)) return { succeeded: false, revision: this.rev, failedIndex: i };
      }
      const writes: Write[] = [];
      for (const op of ops) {
        if (op.op === 'delete') {
          if (this.data.has(op.key)) writes.push({ kind: 'delete', key: op.key });
        } else if (op.op !== 'check') {
          writes.push({ kind: 'put', key: op.key, value: op.value, lease: undefined });
        }
      }
      this.write(writes);
      return { succeeded: true, revision: this.rev };
    });
  }

  watch(prefix: string, opts: WatchOptions): AsyncIterable<StoreEvent[]> {
    return {
      [Symbol.asyncIterator]: () => this.openWatch(prefix, opts),
    };
  }

  private openWatch(prefix: string, opts: WatchOptions): AsyncIterator<StoreEvent[]> {
    const watcher: Watcher = { prefix, queue: undefined as unknown as AsyncQueue<StoreEvent[]> };
    watcher.queue = new AsyncQueue<StoreEvent[]>(opts.signal, () => this.watchers.delete(watcher));
    if (watcher.queue.isDone) return watcher.queue;
    if (this.closed) {
      watcher.queue.fail(new ShoalError('Unavailable', 'store is closed', { retryAfterSeconds: 1 }));
      return watcher.queue;
    }
    const from = opts.fromRevision ?? this.rev + 1;
    if (from < this.compactedAt) {
      watcher.queue.fail(new ShoalError('Gone', `revision ${from} has been compacted (compacted at ${this.compactedAt}); relist`));
      return watcher.queue;
    }
    for (const h of this.history) {
      if (h.revision < from) continue;
      const evs = h.events.filter((e) => eventKey(e).startsWith(prefix));
      if (evs.length > 0) watcher.queue.push(evs);
    }
    this.watchers.add(watcher);
    return watcher.queue;
  }

  revision(): Promise<number> {
    return run(() => {
      this.check();
      return this.rev;
    });
  }

  grantLease(ttlSeconds: number): Promise<Lease> {
    return run(() => {
      this.check();
      if (!(ttlSeconds > 0)) throw new ShoalError('InvalidArgument', `lease TTL must be positive, got ${ttlSeconds}`);
      const id = (this.nextLease++).toString(16);
      const state: LeaseState = { id, ttlSeconds, keys: new Set(), cancelTimer: () => {} };
      this.leases.set(id, state);
      this.armLease(state);
      return this.leaseHandle(id, ttlSeconds);
    });
  }

  private armLease(state: LeaseState): void {
    state.cancelTimer();
    state.cancelTimer = this.clock.setTimeout(() => this.revokeLease(state.id), state.ttlSeconds * 1000);
  }

  private leaseHandle(id: string, ttlSeconds: number): Lease {
    return {
      id,
      ttlSeconds,
      keepAlive: () =>
        run(() => {
          this.check();
          const state = this.leases.get(id);
          if (state === undefined) throw new ShoalError('NotFound', `lease ${id} not found (expired or revoked)`);
          this.armLease(state);
        }),
      revoke: () =>
        run(() => {
          this.check();
          this.revokeLease(id);
        }),
    };
  }

  private revokeLease(id: string): void {
    const state = this.leases.get(id);
    if (state === undefined) return;
    state.cancelTimer();
    this.leases.delete(id);
    const writes: Write[] = [];
    for (const key of [...state.keys].sort()) if (this.data.get(key)?.lease === id) writes.push({ kind: 'delete', key });
    if (writes.length > 0) this.write(writes);
  }

  private leaseId(lease: Lease | undefined): string | undefined {
    if (lease === undefined) return undefined;
    if (!this.leases.has(lease.id)) throw new ShoalError('NotFound', `lease ${lease.id} not found (expired or revoked)`);
    return lease.id;
  }

  election(name: string, candidateValue: string, ttlSeconds: number): Election {
    return new StoreElection(this, name, candidateValue, ttlSeconds, this.clock);
  }

  compact(revision: number): Promise<void> {
    return run(() => {
      this.check();
      if (revision > this.rev) throw new ShoalError('InvalidArgument', `cannot compact to future revision ${revision} (current ${this.rev})`);
      if (revision < this.compactedAt) throw new ShoalError('Gone', `revision ${revision} is already compacted (compacted at ${this.compactedAt})`);
      this.compactTo(revision);
    });
  }

  private compactTo(revision: number): void {
    this.compactedAt = revision;
    let drop = 0;
    while (drop < this.history.length && (this.history[drop] as { revision: number }).revision < revision) drop++;
    this.history.splice(0, drop);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const w of [...this.watchers]) w.queue.end();
      for (const l of this.leases.values()) l.cancelTimer();
      this.leases.clear();
    }
    return Promise.resolve();
  }

  /** Applies writes as one revision, records history and notifies watchers. Returns the new KVs by key. */
  private write(writes: Write[]): Map<string, KeyValue> {
    const out = new Map<string, KeyValue>();
    if (writes.length === 0) return out;
    const revision = ++this.rev;
    const events: StoreEvent[] = [];
    for (const w of writes) {
      const prev = this.data.get(w.key);
      if (prev?.lease !== undefined) this.leases.get(prev.lease)?.keys.delete(w.key);
      if (w.kind === 'put') {
        const kv: KeyValue = Object.freeze({ key: w.key, value: w.value, createRevision: prev?.kv.createRevision ?? revision, modRevision: revision });
        this.data.set(w.key, { kv, lease: w.lease });
        if (w.lease !== undefined) this.leases.get(w.lease)?.keys.add(w.key);
        out.set(w.key, kv);
        events.push(prev ? { type: 'put', kv, prev: prev.kv } : { type: 'put', kv });
      } else if (prev) {
        this.data.delete(w.key);
        events.push({ type: 'delete', key: w.key, modRevision: revision, prev: prev.kv });
      }
    }
    this.history.push({ revision, events });
    if (this.history.length > this.maxHistory) this.compactTo((this.history[this.history.length - this.maxHistory] as { revision: number }).revision);
    for (const w of this.watchers) {
      const evs = events.filter((e) => eventKey(e).startsWith(w.prefix));
      if (evs.length > 0) w.queue.push(evs);
    }
    return out;
  }
}

type Write = { kind: 'put'; key: string; value: string; lease: string | undefined } | { kind: 'delete'; key: string };

export function eventKey(e: StoreEvent): string {
  return e.type === 'put' ? e.kv.key : e.key;
}

/** Whether `op`'s compare holds against the key's current version (`undefined`: absent). Both stores' rule. */
export function compareHolds(op: TxnOp, cur: Pick<KeyValue, 'createRevision' | 'modRevision'> | undefined): boolean {
  switch (op.op) {
    case 'create':
      return cur === undefined;
    case 'update':
      // A missing key never matches, whatever revision is expected.
      return cur !== undefined && cur.modRevision === op.expectModRevision;
    case 'delete':
      return op.expectModRevision === undefined || (cur?.modRevision ?? 0) === op.expectModRevision;
    case 'check':
      return (cur?.createRevision ?? 0) === op.expectCreateRevision;
  }
}

export function checkDistinctKeys(ops: TxnOp[]): void {
  const seen = new Set<string>();
  for (const op of ops) {
    if (seen.has(op.key)) throw new ShoalError('InvalidArgument', `transaction names key ${op.key} twice`);
    seen.add(op.key);
  }
}

function run<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
