import { describe, expect, it, vi } from 'vitest';
import { ShoalError } from '../api/index.js';
import { AsyncQueue } from './async-queue.js';
import { Informer, type InformerEvent } from './informer.js';
import { MemoryStore } from './memory-store.js';
import type { Store, StoreEvent, WatchOptions } from './store.js';

interface Obj {
  name: string;
  node?: string;
}

const decode = (kv: { value: string }): Obj => JSON.parse(kv.value) as Obj;

/** A store whose watches can be broken from the test with a chosen error. */
class BreakableStore {
  readonly queues: AsyncQueue<StoreEvent[]>[] = [];
  watchCalls = 0;
  paused = false;
  constructor(readonly inner: MemoryStore) {}
  asStore(): Store {
    return new Proxy(this.inner, {
      get: (target, prop, receiver) => {
        if (prop === 'watch') return (prefix: string, opts: WatchOptions) => this.watch(prefix, opts);
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
  watch(prefix: string, opts: WatchOptions): AsyncIterable<StoreEvent[]> {
    this.watchCalls++;
    if (!this.paused) return this.inner.watch(prefix, opts);
    const q = new AsyncQueue<StoreEvent[]>(opts.signal);
    this.queues.push(q);
    return q;
  }
  break(err: ShoalError): void {
    for (const q of this.queues) q.fail(err);
  }
}

function record(inf: Informer<Obj>): string[] {
  const log: string[] = [];
  inf.addHandlers({
    onAdd: (c) => log.push(`add ${c.object.name}`),
    onUpdate: (p, c) => log.push(`update ${p.object.name}@${p.object.node ?? ''}->${c.object.node ?? ''}`),
    onDelete: (p) => log.push(`delete ${p.object.name}`),
  });
  return log;
}

/** How vi.waitFor polls in these tests. */
const poll = { timeout: 2000, interval: 5 };

describe('Informer', () => {
  it('lists, then follows changes, keeping indexes current', async () => {
    const store = new MemoryStore();
    await store.put('/t/a', JSON.stringify({ name: 'a', node: 'n1' }));
    await store.put('/t/b', JSON.stringify({ name: 'b', node: 'n1' }));
    await store.put('/other/x', JSON.stringify({ name: 'x' }));
    const inf = new Informer<Obj>({ store, prefix: '/t/', decode, indexers: { node: (o) => (o.node ? [o.node] : []) } });
    const log = record(inf);
    const ac = new AbortController();
    const running = inf.run(ac.signal);
    await inf.waitForSync();
    expect(inf.hasSynced()).toBe(true);
    expect(log).toEqual(['add a', 'add b']);
    expect(inf.byIndex('node', 'n1').map((c) => c.object.name).sort()).toEqual(['a', 'b']);

    const a = await store.get('/t/a');
    await store.update('/t/a', JSON.stringify({ name: 'a', node: 'n2' }), a?.modRevision ?? 0);
    await store.delete('/t/b');
    await store.put('/t/c', JSON.stringify({ name: 'c' }));
    await vi.waitFor(() => expect(log.length).toBe(5), poll);
    expect(log.slice(2)).toEqual(['update a@n1->n2', 'delete b', 'add c']);
    expect(inf.byIndex('node', 'n1')).toEqual([]);
    expect(inf.byIndex('node', 'n2').map((c) => c.object.name)).toEqual(['a']);
    expect(inf.indexValues('node')).toEqual(['n2']);
    expect(inf.list().map((c) => c.key).sort()).toEqual(['/t/a', '/t/c']);
    expect(inf.revision).toBe(await store.revision());
    ac.abort();
    await running;
    expect(store.watcherCount).toBe(0);
  });

  it('on Gone relists and emits only the difference', async () => {
    const inner = new MemoryStore();
    const bs = new BreakableStore(inner);
    for (const n of ['a', 'b', 'c']) await inner.put(`/t/${n}`, JSON.stringify({ name: n, node: 'n1' }));
    const errors: string[] = [];
    const inf = new Informer<Obj>({ store: bs.asStore(), prefix: '/t/', decode, onError: (e) => errors.push(e.code) });
    const log = record(inf);
    bs.paused = true;
    const ac = new AbortController();
    const running = inf.run(ac.signal);
    await inf.waitForSync();
    await vi.waitFor(() => expect(bs.queues.length).toBe(1), poll);
    // Changes the informer does not see through its (stalled) watch.
    await inner.put('/t/a', JSON.stringify({ name: 'a', node: 'n9' }));
    await inner.delete('/t/b');
    await inner.put('/t/d', JSON.stringify({ name: 'd' }));
    bs.paused = false;
    bs.break(new ShoalError('Gone', 'compacted'));
    await vi.waitFor(() => expect(log.length).toBe(6), poll);
    expect(log.slice(3).sort()).toEqual(['add d', 'delete b', 'update a@n1->n9']);
    expect(errors).toEqual(['Gone']);
    await inner.put('/t/c', JSON.stringify({ name: 'c', node: 'n2' }));
    await vi.waitFor(() => expect(log.length).toBe(7), poll);
    expect(log[6]).toBe('update c@n1->n2');
    ac.abort();
    await running;
  });

  it('backs off on Unavailable, skips undecodable objects and stops on abort', async () => {
    const inner = new MemoryStore();
    const bs = new BreakableStore(inner);
    await inner.put('/t/bad', '{not json');
    await inner.put('/t/ok', JSON.stringify({ name: 'ok' }));
    const delays: number[] = [];
    const errors: string[] = [];
    const inf = new Informer<Obj>({
      store: bs.asStore(),
      prefix: '/t/',
      decode,
      backoff: (n) => 1000 * (n + 1),
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
      onError: (e) => errors.push(e.code),
    });
    const events: InformerEvent<Obj>[] = [];
    const ac = new AbortController();
    const consume = (async () => {
      for await (const e of inf.changes(ac.signal)) events.push(e);
    })();
    bs.paused = true;
    const running = inf.run(ac.signal);
    await inf.waitForSync();
    expect(inf.list().map((c) => c.object.name)).toEqual(['ok']);
    await vi.waitFor(() => expect(bs.queues.length).toBe(1), poll);
    bs.break(new ShoalError('Unavailable', 'etcd down'));
    await vi.waitFor(() => expect(bs.queues.length).toBe(2), poll);
    bs.break(new ShoalError('Unavailable', 'etcd down'));
    await vi.waitFor(() => expect(bs.queues.length).toBe(3), poll);
    expect(delays).toEqual([1000, 2000]);
    expect(errors).toEqual(['Internal', 'Unavailable', 'Internal', 'Unavailable', 'Internal']);
    ac.abort();
    await running;
    await consume;
    expect(events.map((e) => e.type)).toEqual(['add']);
  });
});
