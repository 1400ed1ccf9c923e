import { afterEach, describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../api/index.js';
import { BatchCommitter, commitInBatches } from './batch-commit.js';
import { FencedStore } from './fence.js';
import { MemoryStore } from './memory-store.js';
import type { Fence, Store, TxnOp, TxnResult } from './store.js';

const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function setup(): Promise<{ mem: MemoryStore; fence: Fence; txns: TxnOp[][]; counted: Store }> {
  const mem = new MemoryStore();
  stores.push(mem);
  const kv = await mem.create('/elections/leader/1', 'me');
  const txns: TxnOp[][] = [];
  const counted = Object.create(mem) as Store;
  counted.txn = (ops: TxnOp[]): Promise<TxnResult> => {
    txns.push(ops);
    return mem.txn(ops);
  };
  return { mem, fence: { key: kv.key, createRevision: kv.createRevision }, txns, counted };
}

const creates = (n: number, prefix = '/k/'): TxnOp[] => Array.from({ length: n }, (_, i) => ({ op: 'create', key: `${prefix}${String(i).padStart(3, '0')}`, value: String(i) }));

describe('FencedStore', () => {
  it('adds one check of the fence to each transaction and writes while the fence holds', async () => {
    const { mem, fence, txns, counted } = await setup();
    const fenced = new FencedStore(counted, fence);
    const r = await commitInBatches(fenced, creates(300), 128);
    expect(r).toMatchObject({ committed: 300, conflicts: [], transactions: 3 });
    expect(txns.map((t) => t.length)).toEqual([129, 129, 45]);
    expect(txns.every((t) => t[0]?.op === 'check' && t[0].key === fence.key && t.filter((o) => o.op === 'check').length === 1)).toBe(true);
    expect((await mem.list('/k/')).items).toHaveLength(300);
  });

  it('reports a conflict by the caller’s index, so the committer sets aside the right op', async () => {
    const { mem, fence } = await setup();
    await mem.create('/k/002', 'taken');
    const r = await commitInBatches(new FencedStore(mem, fence), creates(5), 10);
    expect(r.committed).toBe(4);
    expect(r.conflicts.map((o) => o.key)).toEqual(['/k/002']);
    expect((await mem.get('/k/002'))?.value).toBe('taken');
  });

  it('a committer whose fence key is gone writes nothing and stops with FailedPrecondition', async () => {
    const { mem, fence, txns, counted } = await setup();
    const lost: ShoalError[] = [];
    const fenced = new FencedStore(counted, fence, (e) => lost.push(e));
    await mem.delete(fence.key);
    const before = await mem.revision();
    const err: unknown = await commitInBatches(fenced, creates(300), 128, undefined, 3).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isShoalError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toMatch(/leadership lost/);
    expect(await mem.revision()).toBe(before);
    expect((await mem.list('/k/')).items).toEqual([]);
    expect(lost).toHaveLength(1);
    expect(fenced.lost).toBe(true);
    // Later writes are refused without asking the store.
    const sent = txns.length;
    await expect(fenced.txn(creates(1, '/later/'))).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(txns.length).toBe(sent);
    expect(lost).toHaveLength(1);
  });

  it('a key re-created under the same name (another term) does not satisfy the fence', async () => {
    const { mem, fence } = await setup();
    await mem.delete(fence.key);
    await mem.create(fence.key, 'someone else');
    const c = new BatchCommitter(new FencedStore(mem, fence), { concurrency: 2 });
    await c.submit(creates(2));
    await expect(c.drain()).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(c.submit(creates(2, '/more/'))).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect((await mem.list('/k/')).items).toEqual([]);
  });

  it('reads go to the store unfenced', async () => {
    const { mem, fence } = await setup();
    const fenced = new FencedStore(mem, fence);
    await mem.put('/r/a', '1');
    await mem.delete(fence.key);
    expect((await fenced.get('/r/a'))?.value).toBe('1');
    expect((await fenced.list('/r/')).items).toHaveLength(1);
    expect(await fenced.revision()).toBe(await mem.revision());
  });
});
