import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { etcdAvailable, startEtcd, type TestEtcd } from '../../test/e2e/harness/etcd.js';
import { runStoreConformance } from './conformance.js';
import { commitInBatches, TXN_BATCH_OPS } from './batch-commit.js';
import { EtcdStore, prefixEnd } from './etcd-store.js';
import { FencedStore } from './fence.js';
import type { StoreEvent } from './store.js';

const hasEtcd = etcdAvailable();
if (!hasEtcd) console.warn('etcd-store tests skipped: the `etcd` binary is not installed (apt-get install etcd-server)');

describe('prefixEnd', () => {
  it('increments the last byte below 0xff', () => {
    expect(prefixEnd(Buffer.from('/a/')).toString()).toBe('/a0');
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });
});

describe.skipIf(!hasEtcd)('EtcdStore on a real etcd', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  runStoreConformance('EtcdStore', () => {
    const store = new EtcdStore({ endpoints: etcd.endpoints });
    return Promise.resolve({
      store,
      advance: (ms) => new Promise((r) => setTimeout(r, ms)),
      cleanup: () => store.close(),
    });
  });

  it('lists a prefix larger than one page at one revision', async () => {
    const store = new EtcdStore({ endpoints: etcd.endpoints, pageSize: 7 });
    try {
      const ops = Array.from({ length: 50 }, (_, i) => ({ op: 'create' as const, key: `/page/${String(i).padStart(3, '0')}`, value: String(i) }));
      const r = await store.txn(ops);
      await store.put('/page0', 'outside');
      const { items, revision } = await store.list('/page/');
      expect(items.map((i) => i.value)).toEqual(ops.map((o) => o.value));
      expect(revision).toBeGreaterThan(r.revision);
    } finally {
      await store.close();
    }
  });

  it('renews hundreds of leases concurrently over one keep-alive stream', async () => {
    const store = new EtcdStore({ endpoints: etcd.endpoints });
    try {
      const leases = await Promise.all(Array.from({ length: 200 }, () => store.grantLease(5)));
      await Promise.all(leases.map((l) => l.keepAlive()));
      await Promise.all(leases.map((l) => l.keepAlive()));
      const gone = leases[7];
      await gone?.revoke();
      const results = await Promise.allSettled(leases.slice(0, 10).map((l) => l.keepAlive()));
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((results[7] as PromiseRejectedResult).reason).toMatchObject({ code: 'NotFound' });
      await Promise.all(leases.map((l) => l.revoke()));
    } finally {
      await store.close();
    }
  });

  it('a slow watch consumer loses nothing (the stream is paused, not buffered without bound)', async () => {
    const store = new EtcdStore({ endpoints: etcd.endpoints });
    const ac = new AbortController();
    try {
      const from = (await store.revision()) + 1;
      await store.put('/slow/0/000', '0');
      // Live writes, one revision each (one watch response each), while the consumer stalls:
      // more responses than the high-water mark arrive before it reads on.
      const seen: string[] = [];
      let writes: Promise<unknown> = Promise.resolve();
      for await (const b of store.watch('/slow/', { fromRevision: from, signal: ac.signal })) {
        for (const e of b) if (e.type === 'put') seen.push(e.kv.key);
        if (seen.length === 1) {
          writes = Promise.all(
            Array.from({ length: 4 }, (_, w) =>
              (async () => {
                for (let i = w === 0 ? 1 : 0; i < 100; i++) await store.put(`/slow/${w}/${String(i).padStart(3, '0')}`, String(i));
              })(),
            ),
          );
          await writes;
        }
        if (seen.length >= 400) break;
      }
      await writes;
      expect(seen).toHaveLength(400);
      expect(new Set(seen).size).toBe(400);
      for (let w = 0; w < 4; w++) {
        const mine = seen.filter((k) => k.startsWith(`/slow/${w}/`));
        expect(mine).toEqual([...mine].sort());
      }
    } finally {
      ac.abort();
      await store.close();
    }
  });

  it('maps an unreachable etcd to Unavailable with a retry hint', async () => {
    const store = new EtcdStore({ endpoints: ['http://127.0.0.1:1'], callTimeoutMs: 1500 });
    try {
      await expect(store.get('/x')).rejects.toMatchObject({ code: 'Unavailable', retryAfterSeconds: 1 });
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!hasEtcd)('EtcdStore on an etcd with default flags', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    // The harness raises --max-txn-ops; the last flag wins, so this is etcd's default again.
    etcd = await startEtcd({ args: ['--max-txn-ops=128'] });
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('fenced batches of TXN_BATCH_OPS fit etcd\'s default --max-txn-ops (128 compares)', async () => {
    const store = new EtcdStore({ endpoints: etcd.endpoints });
    try {
      const kv = await store.create('/fence/leader', 'me');
      const fenced = new FencedStore(store, { key: kv.key, createRevision: kv.createRevision });
      const ops = Array.from({ length: 3 * TXN_BATCH_OPS }, (_, i) => ({ op: 'create' as const, key: `/fence/k/${String(i).padStart(4, '0')}`, value: String(i) }));
      const r = await commitInBatches(fenced, ops);
      expect(r).toMatchObject({ committed: ops.length, transactions: 3 });
      // One op more per txn would be refused: why the batch is 127.
      await expect(fenced.txn(ops.slice(0, TXN_BATCH_OPS + 1).map((o) => ({ ...o, key: `${o.key}-b` })))).rejects.toMatchObject({ code: 'InvalidArgument' });
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!hasEtcd)('EtcdStore watch across an etcd restart', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('resumes after SIGKILL and restart without losing events', async () => {
    const writer = new EtcdStore({ endpoints: etcd.endpoints });
    const reader = new EtcdStore({ endpoints: etcd.endpoints, watchBackoff: () => 200 });
    const ac = new AbortController();
    const seen: StoreEvent[] = [];
    try {
      const from = (await writer.revision()) + 1;
      await writer.put('/r/0', '0');
      const loop = (async () => {
        for await (const b of reader.watch('/r/', { fromRevision: from, signal: ac.signal })) seen.push(...b);
      })();
      await vi.waitFor(() => expect(seen.length).toBe(1), { timeout: 5000, interval: 20 });
      await etcd.kill();
      await etcd.start();
      for (let i = 1; i <= 5; i++) await retry(() => writer.put(`/r/${i}`, String(i)));
      await vi.waitFor(() => expect(seen.length).toBe(6), { timeout: 20_000, interval: 20 });
      // Leases survive the restart and the keep-alive stream is reopened.
      const lease = await retry(() => writer.grantLease(5));
      await lease.keepAlive();
      await etcd.kill();
      await etcd.start();
      await retry(() => lease.keepAlive());
      await lease.revoke();
      expect(seen.map((e) => (e.type === 'put' ? e.kv.value : '-'))).toEqual(['0', '1', '2', '3', '4', '5']);
      ac.abort();
      await loop;
    } finally {
      ac.abort();
      await reader.close();
      await writer.close();
    }
  });
});

async function retry<T>(fn: () => Promise<T>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
