/**
 * Informer: keeps a local, indexed cache of every object under a key prefix, the way
 * client-go's informers do. It lists, then watches from the list's revision + 1; on a
 * watch failure it backs off and relists, and on `Gone` (compaction) it relists at once.
 * A relist is diffed against the cache, so handlers only see real changes (never a full
 * re-emit of unchanged objects). Handlers run synchronously after the cache is updated,
 * in revision order.
 */
import { isShoalError, toShoalError, type ShoalError } from '../api/index.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep } from '../util/index.js';
import { AsyncQueue } from './async-queue.js';
import type { KeyValue, Store, StoreEvent } from './store.js';

export interface Cached<T> {
  key: string;
  object: T;
  modRevision: number;
}

export type InformerEvent<T> =
  | { type: 'add'; cur: Cached<T> }
  | { type: 'update'; prev: Cached<T>; cur: Cached<T> }
  | { type: 'delete'; prev: Cached<T> };

export interface InformerHandlers<T> {
  onAdd?(cur: Cached<T>): void;
  onUpdate?(prev: Cached<T>, cur: Cached<T>): void;
  onDelete?(prev: Cached<T>): void;
}

/** An index maps an object to the values it is filed under (e.g. a task → [its nodeName]). */
export type IndexFunc<T> = (object: T) => readonly string[];

export interface InformerOptions<T> {
  store: Store;
  prefix: string;
  /** Turns a stored value into an object; a throw skips the object (reported to onError). */
  decode(kv: KeyValue): T;
  indexers?: Record<string, IndexFunc<T>>;
  /** Delay before retry number `attempt` (0-based). Default: DEFAULT_BACKOFF (100 ms doubling up to 5 s, jittered). */
  backoff?: (attempt: number) => number;
  /** Waits `ms` or until the signal fires (injected so tests need not wait). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  onError?: (err: ShoalError) => void;
}

export class Informer<T> {
  private readonly cache = new Map<string, Cached<T>>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly handlers = new Set<InformerHandlers<T>>();
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private rev = 0;
  private running = false;
  private readonly backoff: (attempt: number) => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly opts: InformerOptions<T>) {
    this.backoff = opts.backoff ?? ((attempt) => backoffDelay(DEFAULT_BACKOFF, attempt));
    this.sleep = opts.sleep ?? sleep;
    for (const name of Object.keys(opts.indexers ?? {})) this.indexes.set(name, new Map());
  }

  /** Registers handlers; returns a function that removes them. Add before `run` to see the initial adds. */
  addHandlers(h: InformerHandlers<T>): () => void {
    this.handlers.add(h);
    return () => {
      this.handlers.delete(h);
    };
  }

  /** The changes as an async iterator (buffered; ends when `signal` fires). */
  changes(signal: AbortSignal): AsyncIterable<InformerEvent<T>> {
    let remove = (): void => {};
    const q = new AsyncQueue<InformerEvent<T>>(signal, () => remove());
    if (!q.isDone) {
      remove = this.addHandlers({
        onAdd: (cur) => q.push({ type: 'add', cur }),
        onUpdate: (prev, cur) => q.push({ type: 'update', prev, cur }),
        onDelete: (prev) => q.push({ type: 'delete', prev }),
      });
    }
    return q;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been loaded (or when `signal` fires). */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.syncWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** The last store revision reflected in the cache. */
  get revision(): number {
    return this.rev;
  }

  get size(): number {
    return this.cache.size;
  }

  get(key: string): Cached<T> | undefined {
    return this.cache.get(key);
  }

  list(): Cached<T>[] {
    return [...this.cache.values()];
  }

  /** Objects filed under `value` by the indexer `name`. */
  byIndex(name: string, value: string): Cached<T>[] {
    const idx = this.indexes.get(name);
    if (idx === undefined) throw new Error(`informer: no index named ${name}`);
    const keys = idx.get(value);
    const out: Cached<T>[] = [];
    if (keys) for (const k of keys) {
      const c = this.cache.get(k);
      if (c) out.push(c);
    }
    return out;
  }

  /** Index values currently present for `name` (e.g. every nodeName that has tasks). */
  indexValues(name: string): string[] {
    return [...(this.indexes.get(name)?.keys() ?? [])];
  }

  /** Lists and watches until `signal` fires. Call once. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error('informer: run called twice');
    this.running = true;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const { items, revision } = await this.opts.store.list(this.opts.prefix);
        if (signal.aborted) break;
        this.replace(items, revision);
        // The backoff resets only once the watch has delivered something, so a watch that
        // fails right after every successful list still backs off.
        for await (const batch of this.opts.store.watch(this.opts.prefix, { fromRevision: revision + 1, signal })) {
          attempt = 0;
          this.applyBatch(batch);
        }
        if (signal.aborted) break;
      } catch (err) {
        if (signal.aborted) break;
        const e = toShoalError(err);
        this.opts.onError?.(e);
        if (isShoalError(e, 'Gone')) continue;
        await this.sleep(this.backoff(attempt++), signal);
      }
    }
  }

  private replace(items: KeyValue[], revision: number): void {
    const seen = new Set<string>();
    for (const kv of items) {
      seen.add(kv.key);
      const prev = this.cache.get(kv.key);
      if (prev && prev.modRevision === kv.modRevision) continue;
      this.upsert(kv, prev);
    }
    for (const [key, prev] of [...this.cache]) if (!seen.has(key)) this.remove(key, prev);
    this.rev = Math.max(this.rev, revision);
    if (!this.synced) {
      this.synced = true;
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of waiters) w();
    }
  }

  private applyBatch(batch: StoreEvent[]): void {
    for (const e of batch) {
      if (e.type === 'put') {
        const prev = this.cache.get(e.kv.key);
        if (prev && prev.modRevision >= e.kv.modRevision) continue;
        this.upsert(e.kv, prev);
        this.rev = Math.max(this.rev, e.kv.modRevision);
      } else {
        const prev = this.cache.get(e.key);
        if (prev && prev.modRevision < e.modRevision) this.remove(e.key, prev);
        this.rev = Math.max(this.rev, e.modRevision);
      }
    }
  }

  private upsert(kv: KeyValue, prev: Cached<T> | undefined): void {
    let object: T;
    try {
      object = this.opts.decode(kv);
    } catch (err) {
      this.opts.onError?.(toShoalError(err));
      if (prev) this.remove(kv.key, prev);
      return;
    }
    const cur: Cached<T> = { key: kv.key, object, modRevision: kv.modRevision };
    if (prev) this.unindex(prev);
    this.cache.set(kv.key, cur);
    this.index(cur);
    for (const h of [...this.handlers]) this.call(() => (prev ? h.onUpdate?.(prev, cur) : h.onAdd?.(cur)));
  }

  private remove(key: string, prev: Cached<T>): void {
    this.unindex(prev);
    this.cache.delete(key);
    for (const h of [...this.handlers]) this.call(() => h.onDelete?.(prev));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.onError?.(toShoalError(err));
    }
  }

  private index(c: Cached<T>): void {
    for (const [name, fn] of Object.entries(this.opts.indexers ?? {})) {
      const idx = this.indexes.get(name) as Map<string, Set<string>>;
      for (const v of this.indexValuesOf(fn, c)) {
        let set = idx.get(v);
        if (!set) idx.set(v, (set = new Set()));
        set.add(c.key);
      }
    }
  }

  private unindex(c: Cached<T>): void {
    for (const [name, fn] of Object.entries(this.opts.indexers ?? {})) {
      const idx = this.indexes.get(name) as Map<string, Set<string>>;
      for (const v of this.indexValuesOf(fn, c)) {
        const set = idx.get(v);
        set?.delete(c.key);
        if (set?.size === 0) idx.delete(v);
      }
    }
  }

  private indexValuesOf(fn: IndexFunc<T>, c: Cached<T>): readonly string[] {
    try {
      return fn(c.object);
    } catch (err) {
      this.opts.onError?.(toShoalError(err));
      return [];
    }
  }
}
