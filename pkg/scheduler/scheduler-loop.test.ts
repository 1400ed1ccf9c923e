import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Node, Task } from '../api/index.js';
import { decodeObject, encodeObject, Informer, MemoryStore, objectKey, resourcePrefix, storeKeyOf, type TxnOp } from '../store/index.js';
import { makeNode, makeTask } from './fixtures.js';
import { runSchedulerLoop } from './scheduler-loop.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('runSchedulerLoop in chunks', () => {
  it('places a pass larger than one chunk with spread kept across chunks and bounded txns in flight', async () => {
    const store = new MemoryStore();
    const ops: TxnOp[] = [];
    for (let i = 0; i < 7; i++) ops.push({ op: 'create', key: objectKey('nodes', undefined, `n${i}`), value: encodeObject(makeNode({ name: `n${i}`, cpu: '64', memory: '64Gi', pods: 1000 })) });
    for (let s = 0; s < 3; s++) {
      for (let k = 1; k <= 70; k++) {
        const t = makeTask({ service: `s${s}`, slot: k, name: `s${s}.${k}.x`, cpu: '10m', memory: '1Mi' });
        ops.push({ op: 'create', key: storeKeyOf(t), value: encodeObject(t) });
      }
    }
    await store.txn(ops);
    let inFlight = 0;
    let maxInFlight = 0;
    const counting = Object.create(store) as MemoryStore;
    counting.txn = async (o) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      try {
        return await store.txn(o);
      } finally {
        inFlight--;
      }
    };
    const ac = new AbortController();
    const tasks = new Informer<Task>({ store, prefix: resourcePrefix('tasks'), decode: (kv) => decodeObject<Task>(kv) });
    const nodes = new Informer<Node>({ store, prefix: resourcePrefix('nodes'), decode: (kv) => decodeObject<Node>(kv) });
    let placed = 0;
    const passes: number[] = [];
    const runs = [tasks.run(ac.signal), nodes.run(ac.signal), runSchedulerLoop({ store: counting, tasks, nodes, signal: ac.signal, chunkSize: 25, batchSize: 8, concurrency: 2, onPass: (p) => void passes.push((placed += p.placed)) })];
    cleanups.push(async () => {
      ac.abort();
      await Promise.all(runs);
      await store.close();
    });
    await vi.waitFor(() => expect(placed).toBe(210), { timeout: 5000, interval: 10 });
    expect(maxInFlight).toBe(2);
    const all = (await store.list(resourcePrefix('tasks'))).items.map((kv) => decodeObject<Task>(kv));
    expect(all.every((t) => t.status.state === 'assigned' && t.spec.nodeName)).toBe(true);
    // 70 tasks of a service on 7 nodes: exactly 10 each, although each service spans several chunks.
    for (let s = 0; s < 3; s++) {
      const per = new Map<string, number>();
      for (const t of all.filter((x) => x.spec.serviceName === `s${s}`)) per.set(t.spec.nodeName ?? '', (per.get(t.spec.nodeName ?? '') ?? 0) + 1);
      expect([...per.values()]).toEqual(Array(7).fill(10));
    }
  });
});
