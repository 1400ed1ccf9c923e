import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, type Store, type TxnOp, type TxnResult } from './index.js';
import { BatchCommitter, commitInBatches } from './batch-commit.js';

const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** A store whose txns are counted and resolve after a tick, to observe how many run at once. */
function counting(inner: Store): { store: Store; maxInFlight: () => number; txns: () => number } {
  let inFlight = 0;
  let max = 0;
  let n = 0;
  const store = Object.create(inner) as Store;
  store.txn = async (ops: TxnOp[]): Promise<TxnResult> => {
    inFlight++;
    n++;
    max = Math.max(max, inFlight);
    await new Promise((r) => setTimeout(r, 2));
    try {
      return await inner.txn(ops);
    } finally {
      inFlight--;
    }
  };
  return { store, maxInFlight: () => max, txns: () => n };
}

describe('commitInBatches', () => {
  it('keeps at most `concurrency` txns in flight and commits every op', async () => {
    const mem = new MemoryStore();
    stores.push(mem);
    const c = counting(mem);
    const ops: TxnOp[] = Array.from({ length: 100 }, (_, i) => ({ op: 'create', key: `/k/${i}`, value: String(i) }));
    const r = await commitInBatches(c.store, ops, 10, undefined, 3);
    expect(r).toMatchObject({ committed: 100, conflicts: [], transactions: 10 });
    expect(c.maxInFlight()).toBe(3);
    expect((await mem.list('/k/')).items).toHaveLength(100);
  });

  it('sets a failed compare aside and retries the rest of its batch', async () => {
    const mem = new MemoryStore();
    stores.push(mem);
    await mem.create('/k/3', 'taken');
    const ops: TxnOp[] = Array.from({ length: 8 }, (_, i) => ({ op: 'create', key: `/k/${i}`, value: String(i) }));
    const r = await commitInBatches(mem, ops, 4, undefined, 2);
    expect(r.committed).toBe(7);
    expect(r.conflicts.map((o) => o.key)).toEqual(['/k/3']);
    expect((await mem.get('/k/3'))?.value).toBe('taken');
    expect((await mem.get('/k/2'))?.value).toBe('2');
  });
});

describe('BatchCommitter', () => {
  it('reports each committed batch with its own revision', async () => {
    const mem = new MemoryStore();
    stores.push(mem);
    const seen: { keys: string[]; revision: number }[] = [];
    const c = new BatchCommitter(mem, { concurrency: 2, onCommitted: (ops, revision) => seen.push({ keys: ops.map((o) => o.key), revision }) });
    await c.submit([{ op: 'create', key: '/a', value: '1' }]);
    await c.submit([{ op: 'create', key: '/b', value: '1' }]);
    await c.submit([{ op: 'create', key: '/c', value: '1' }]);
    const r = await c.drain();
    expect(r.committed).toBe(3);
    for (const s of seen) expect((await mem.get(s.keys[0] ?? ''))?.modRevision).toBe(s.revision);
    expect(new Set(seen.map((s) => s.revision)).size).toBe(3);
  });

  it('surfaces a store failure from drain', async () => {
    const mem = new MemoryStore();
    stores.push(mem);
    const broken = Object.create(mem) as Store;
    broken.txn = () => Promise.reject(new Error('etcd down'));
    const c = new BatchCommitter(broken, { concurrency: 2 });
    await c.submit([{ op: 'create', key: '/a', value: '1' }]);
    await expect(c.drain()).rejects.toThrow('etcd down');
  });
});
