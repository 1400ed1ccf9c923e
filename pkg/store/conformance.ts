/**
 * The Store conformance suite: every Store implementation runs it (memory-store.test.ts,
 * etcd-store.test.ts). Test-only: imports vitest, so it is not exported from index.ts.
 * Each test works under its own random key prefix, so one store may serve all tests.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShoalError } from '../api/index.js';
import type { Store, StoreEvent } from './store.js';

export interface StoreHarness {
  store: Store;
  /** Lets `ms` of lease time pass (a fake clock for memory, real sleep for etcd). */
  advance(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** Shortest lease TTL every implementation honours (etcd's minimum is about 2 s). */
const TTL = 2;

export function runStoreConformance(name: string, makeStore: () => Promise<StoreHarness>): void {
  describe(`Store conformance: ${name}`, () => {
    let h: StoreHarness;
    let s: Store;
    const p = (): string => `/conf/${randomBytes(4).toString('hex')}/`;

    beforeAll(async () => {
      h = await makeStore();
      s = h.store;
    });
    afterAll(async () => {
      await h?.cleanup();
    });

    async function code(promise: Promise<unknown>): Promise<string> {
      try {
        await promise;
        return 'ok';
      } catch (err) {
        return isShoalError(err) ? err.code : `non-ShoalError: ${String(err)}`;
      }
    }

    /** Reads batches until `n` events arrived or `ms` passed. */
    async function collect(prefix: string, fromRevision: number | undefined, n: number, ms = 5000): Promise<StoreEvent[][]> {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), ms);
      const batches: StoreEvent[][] = [];
      let count = 0;
      try {
        for await (const b of s.watch(prefix, fromRevision === undefined ? { signal: ac.signal } : { fromRevision, signal: ac.signal })) {
          batches.push(b);
          count += b.length;
          if (count >= n) break;
        }
      } finally {
        clearTimeout(timer);
        ac.abort();
      }
      return batches;
    }

    it('get of a missing key is undefined; create then get returns it', async () => {
      const k = p() + 'a';
      expect(await s.get(k)).toBeUndefined();
      const before = await s.revision();
      const kv = await s.create(k, '{"x":1}');
      expect(kv.key).toBe(k);
      expect(kv.value).toBe('{"x":1}');
      expect(kv.modRevision).toBeGreaterThan(before);
      expect(kv.createRevision).toBe(kv.modRevision);
      expect(await s.get(k)).toEqual(kv);
      expect(await s.revision()).toBeGreaterThanOrEqual(kv.modRevision);
    });

    it('create of a present key fails with AlreadyExists and changes nothing', async () => {
      const k = p() + 'a';
      const kv = await s.create(k, '1');
      expect(await code(s.create(k, '2'))).toBe('AlreadyExists');
      expect(await s.get(k)).toEqual(kv);
    });

    it('update is a compare-and-swap on modRevision', async () => {
      const k = p() + 'a';
      const v1 = await s.create(k, '1');
      const v2 = await s.update(k, '2', v1.modRevision);
      expect(v2.modRevision).toBeGreaterThan(v1.modRevision);
      expect(v2.createRevision).toBe(v1.createRevision);
      expect(v2.value).toBe('2');
      expect(await code(s.update(k, '3', v1.modRevision))).toBe('Conflict');
      expect((await s.get(k))?.value).toBe('2');
      expect(await code(s.update(p() + 'missing', '1', 5))).toBe('NotFound');
    });

    it('put creates and replaces unconditionally, keeping createRevision', async () => {
      const k = p() + 'a';
      const a = await s.put(k, '1');
      const b = await s.put(k, '2');
      expect(b.createRevision).toBe(a.createRevision);
      expect(b.modRevision).toBeGreaterThan(a.modRevision);
      expect((await s.get(k))?.value).toBe('2');
    });

    it('delete: NotFound when absent, Conflict when stale, returns the deleted value', async () => {
      const k = p() + 'a';
      expect(await code(s.delete(k))).toBe('NotFound');
      const v1 = await s.create(k, '1');
      const v2 = await s.update(k, '2', v1.modRevision);
      expect(await code(s.delete(k, { expectModRevision: v1.modRevision }))).toBe('Conflict');
      expect(await s.get(k)).toBeDefined();
      const gone = await s.delete(k, { expectModRevision: v2.modRevision });
      expect(gone.value).toBe('2');
      expect(await s.get(k)).toBeUndefined();
      await s.create(k, '3');
      await s.delete(k);
      expect(await s.get(k)).toBeUndefined();
    });

    it('list returns the keys under a prefix, sorted, at one revision', async () => {
      const base = p();
      await s.put(base + 'b/2', '"b2"');
      await s.put(base + 'b/1', '"b1"');
      await s.put(base + 'bc/1', '"bc1"');
      const last = await s.put(base + 'a', '"a"');
      const { items, revision } = await s.list(base + 'b/');
      expect(items.map((i) => i.key)).toEqual([base + 'b/1', base + 'b/2']);
      expect(revision).toBeGreaterThanOrEqual(last.modRevision);
      expect((await s.list(base)).items.map((i) => i.key)).toEqual([base + 'a', base + 'b/1', base + 'b/2', base + 'bc/1']);
      expect((await s.list(p())).items).toEqual([]);
    });

    it('txn applies every op in one revision, or none', async () => {
      const base = p();
      const a = await s.create(base + 'a', '1');
      await s.create(base + 'd', 'x');
      const ok = await s.txn([
        { op: 'create', key: base + 'b', value: '2' },
        { op: 'update', key: base + 'a', value: '3', expectModRevision: a.modRevision },
        { op: 'delete', key: base + 'd' },
      ]);
      expect(ok.succeeded).toBe(true);
      const got = (await s.list(base)).items;
      expect(got.map((i) => [i.key, i.value])).toEqual([
        [base + 'a', '3'],
        [base + 'b', '2'],
      ]);
      expect(new Set(got.map((i) => i.modRevision))).toEqual(new Set([ok.revision]));

      const failed = await s.txn([
        { op: 'create', key: base + 'c', value: '4' },
        { op: 'update', key: base + 'a', value: '5', expectModRevision: a.modRevision },
        { op: 'create', key: base + 'b', value: '6' },
      ]);
      expect(failed.succeeded).toBe(false);
      expect(failed.failedIndex).toBe(1);
      expect(await s.get(base + 'c')).toBeUndefined();
      expect((await s.get(base + 'a'))?.value).toBe('3');

      const b = await s.get(base + 'b');
      const del = await s.txn([{ op: 'delete', key: base + 'b', expectModRevision: (b?.modRevision ?? 0) + 1000 }]);
      expect(del).toMatchObject({ succeeded: false, failedIndex: 0 });
      expect(await code(s.txn([{ op: 'create', key: base + 'z', value: '1' }, { op: 'delete', key: base + 'z' }]))).toBe('InvalidArgument');
    });

    it('txn commits hundreds of ops at once', async () => {
      const base = p();
      const ops = Array.from({ length: 500 }, (_, i) => ({ op: 'create' as const, key: `${base}${String(i).padStart(4, '0')}`, value: JSON.stringify({ i }) }));
      const r = await s.txn(ops);
      expect(r.succeeded).toBe(true);
      const { items } = await s.list(base);
      expect(items).toHaveLength(500);
      expect(items.every((i) => i.modRevision === r.revision)).toBe(true);
    });

    it('watch replays history from a revision, batched per revision, filtered by prefix', async () => {
      const base = p();
      const start = (await s.revision()) + 1;
      await s.put(base + 'x/1', '1');
      await s.put(p() + 'other', 'no');
      await s.txn([
        { op: 'create', key: base + 'x/2', value: '2' },
        { op: 'create', key: base + 'x/3', value: '3' },
      ]);
      const del = await s.delete(base + 'x/1');
      const batches = await collect(base, start, 4);
      expect(batches.map((b) => b.map((e) => `${e.type}:${e.type === 'put' ? e.kv.key : e.key}`))).toEqual([
        [`put:${base}x/1`],
        [`put:${base}x/2`, `put:${base}x/3`],
        [`delete:${base}x/1`],
      ]);
      const last = batches[2]?.[0];
      expect(last?.type === 'delete' && last.modRevision).toBeGreaterThan(del.modRevision - 1);
      const revs = batches.map((b) => (b[0]?.type === 'put' ? b[0].kv.modRevision : (b[0] as { modRevision: number }).modRevision));
      expect([...revs].sort((x, y) => x - y)).toEqual(revs);
    });

    it('watch without a revision delivers live events, including prev values', async () => {
      const base = p();
      await s.put(base + 'k', 'old');
      const pending = collect(base, undefined, 2);
      await new Promise((r) => setTimeout(r, 200));
      await s.put(base + 'k', 'new');
      await s.delete(base + 'k');
      const batches = await pending;
      const evs = batches.flat();
      expect(evs.map((e) => e.type)).toEqual(['put', 'delete']);
      const put = evs[0];
      expect(put?.type === 'put' && put.kv.value).toBe('new');
      expect(put?.type === 'put' && put.prev?.value).toBe('old');
    });

    it('watch ends when its signal is aborted', async () => {
      const ac = new AbortController();
      const it0 = s.watch(p(), { signal: ac.signal })[Symbol.asyncIterator]();
      const next = it0.next();
      setTimeout(() => ac.abort(), 50);
      const r = await Promise.race([next, new Promise((res) => setTimeout(() => res('timeout'), 3000))]);
      expect(r).toEqual({ value: undefined, done: true });
    });

    it('watch from a compacted revision fails with Gone', async () => {
      const base = p();
      const first = await s.put(base + 'a', '1');
      await s.put(base + 'a', '2');
      const cur = await s.put(base + 'a', '3');
      await s.compact(cur.modRevision);
      const ac = new AbortController();
      try {
        const iter = s.watch(base, { fromRevision: first.modRevision, signal: ac.signal })[Symbol.asyncIterator]();
        expect(await code(iter.next())).toBe('Gone');
      } finally {
        ac.abort();
      }
      const after = await s.put(base + 'a', '4');
      const batches = await collect(base, cur.modRevision + 1, 1);
      expect(batches.flat().map((e) => e.type === 'put' && e.kv.modRevision)).toEqual([after.modRevision]);
    });

    it('a lease deletes its keys when it expires; keepAlive holds it; revoke deletes at once', async () => {
      const base = p();
      const held = await s.grantLease(TTL);
      const dropped = await s.grantLease(TTL);
      const revoked = await s.grantLease(TTL);
      expect(held.ttlSeconds).toBe(TTL);
      await s.create(base + 'held', '1', { lease: held });
      await s.put(base + 'dropped', '1', { lease: dropped });
      await s.put(base + 'revoked', '1', { lease: revoked });
      await s.put(base + 'plain', '1');
      await revoked.revoke();
      expect(await s.get(base + 'revoked')).toBeUndefined();
      for (let i = 0; i < 5; i++) {
        await h.advance(1000);
        await held.keepAlive();
      }
      await h.advance(1000);
      expect(await s.get(base + 'dropped')).toBeUndefined();
      expect(await s.get(base + 'held')).toBeDefined();
      expect(await s.get(base + 'plain')).toBeDefined();
      expect(await code(dropped.keepAlive())).toBe('NotFound');
      expect(await code(s.put(base + 'x', '1', { lease: dropped }))).toBe('NotFound');
      await held.revoke();
      expect(await s.get(base + 'held')).toBeUndefined();
    });

    it('election: one leader at a time; resign hands over; lost fires', async () => {
      const name = `conf-${randomBytes(4).toString('hex')}`;
      const a = s.election(name, 'a', TTL);
      const b = s.election(name, 'b', TTL);
      const ac = new AbortController();
      await a.campaign(ac.signal);
      expect(await a.leader()).toBe('a');
      let bLeads = false;
      const bCampaign = b.campaign(ac.signal).then(() => {
        bLeads = true;
      });
      await h.advance(500);
      await new Promise((r) => setTimeout(r, 300));
      expect(bLeads).toBe(false);
      expect(a.lost.aborted).toBe(false);
      await a.resign();
      expect(a.lost.aborted).toBe(true);
      await bCampaign;
      expect(bLeads).toBe(true);
      expect(await b.leader()).toBe('b');
      // The leader keeps its lease alive on its own across several TTLs.
      for (let i = 0; i < 3; i++) await h.advance(1000);
      expect(b.lost.aborted).toBe(false);
      expect(await b.leader()).toBe('b');

      const c = s.election(name, 'c', TTL);
      const cc = new AbortController();
      const cCampaign = code(c.campaign(cc.signal));
      await new Promise((r) => setTimeout(r, 200));
      cc.abort();
      expect(await cCampaign).toBe('Canceled');
      expect(c.lost.aborted).toBe(true);
      await b.resign();
      expect(await b.leader()).toBeUndefined();
    });
  });
}
