/**
 * The Store conformance suite: every Store implementation runs it (memory-store.test.ts,
 * etcd-store.test.ts). Test-only: imports vitest, so it is not exported from index.ts.
 * Each test works under its own random key prefix, so one store may serve all tests.
 *
 * The tests come in groups, one function each: keys (get, create, CAS update, put, delete,
 * list), transactions (with the compare-only `check` of fences), watches, leases and election.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShoalError } from '../api/index.js';
import { electionPrefix } from './election.js';
import { fenceCheck } from './fence.js';
import type { Store, StoreEvent } from './store.js';

export interface StoreHarness {
  store: Store;
  /** Lets `ms` of lease time pass (a fake clock for memory, real sleep for etcd). */
  advance(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

/** Shortest lease TTL every implementation honours (etcd's minimum is about 2 s). */
const TTL = 2;

/** What every group's tests use: the store under test (set in beforeAll) and a fresh key prefix. */
interface Suite {
  readonly store: Store;
  readonly harness: StoreHarness;
  /** A random prefix no other test uses. */
  prefix(): string;
}

export function runStoreConformance(name: string, makeStore: () => Promise<StoreHarness>): void {
  describe(`Store conformance: ${name}`, () => {
    let h: StoreHarness | undefined;
    beforeAll(async () => {
      h = await makeStore();
    });
    afterAll(async () => {
      await h?.cleanup();
    });
    const t: Suite = {
      get harness() {
        if (h === undefined) throw new Error('the store harness is not set up');
        return h;
      },
      get store() {
        return this.harness.store;
      },
      prefix: () => `/conf/${randomBytes(4).toString('hex')}/`,
    };
    keyTests(t);
    txnTests(t);
    watchTests(t);
    leaseTests(t);
    electionTests(t);
  });
}

/** 'ok', or the ShoalError code the promise rejected with. */
async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    return isShoalError(err) ? err.code : `non-ShoalError: ${String(err)}`;
  }
}

/** Reads batches until `n` events arrived or `ms` passed. */
async function collect(s: Store, prefix: string, fromRevision: number | undefined, n: number, ms = 5000): Promise<StoreEvent[][]> {
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

/** Single keys and lists: get, create, CAS update, put, delete, list. */
function keyTests(t: Suite): void {
  it('get of a missing key is undefined; create then get returns it', async () => {
    const k = t.prefix() + 'a';
    expect(await t.store.get(k)).toBeUndefined();
    const before = await t.store.revision();
    const kv = await t.store.create(k, '{"x":1}');
    expect(kv.key).toBe(k);
    expect(kv.value).toBe('{"x":1}');
    expect(kv.modRevision).toBeGreaterThan(before);
    expect(kv.createRevision).toBe(kv.modRevision);
    expect(await t.store.get(k)).toEqual(kv);
    expect(await t.store.revision()).toBeGreaterThanOrEqual(kv.modRevision);
  });

  it('create of a present key fails with AlreadyExists and changes nothing', async () => {
    const k = t.prefix() + 'a';
    const kv = await t.store.create(k, '1');
    expect(await code(t.store.create(k, '2'))).toBe('AlreadyExists');
    expect(await t.store.get(k)).toEqual(kv);
  });

  it('update is a compare-and-swap on modRevision', async () => {
    const k = t.prefix() + 'a';
    const v1 = await t.store.create(k, '1');
    const v2 = await t.store.update(k, '2', v1.modRevision);
    expect(v2.modRevision).toBeGreaterThan(v1.modRevision);
    expect(v2.createRevision).toBe(v1.createRevision);
    expect(v2.value).toBe('2');
    expect(await code(t.store.update(k, '3', v1.modRevision))).toBe('Conflict');
    expect((await t.store.get(k))?.value).toBe('2');
    expect(await code(t.store.update(t.prefix() + 'missing', '1', 5))).toBe('NotFound');
  });

  it('put creates and replaces unconditionally, keeping createRevision', async () => {
    const k = t.prefix() + 'a';
    const a = await t.store.put(k, '1');
    const b = await t.store.put(k, '2');
    expect(b.createRevision).toBe(a.createRevision);
    expect(b.modRevision).toBeGreaterThan(a.modRevision);
    expect((await t.store.get(k))?.value).toBe('2');
  });

  it('delete: NotFound when absent, Conflict when stale, returns the deleted value', async () => {
    const k = t.prefix() + 'a';
    expect(await code(t.store.delete(k))).toBe('NotFound');
    const v1 = await t.store.create(k, '1');
    const v2 = await t.store.update(k, '2', v1.modRevision);
    expect(await code(t.store.delete(k, { expectModRevision: v1.modRevision }))).toBe('Conflict');
    expect(await t.store.get(k)).toBeDefined();
    const gone = await t.store.delete(k, { expectModRevision: v2.modRevision });
    expect(gone.value).toBe('2');
    expect(await t.store.get(k)).toBeUndefined();
    await t.store.create(k, '3');
    await t.store.delete(k);
    expect(await t.store.get(k)).toBeUndefined();
  });

  it('list returns the keys under a prefix, sorted, at one revision', async () => {
    const base = t.prefix();
    await t.store.put(base + 'b/2', '"b2"');
    await t.store.put(base + 'b/1', '"b1"');
    await t.store.put(base + 'bc/1', '"bc1"');
    const last = await t.store.put(base + 'a', '"a"');
    const { items, revision } = await t.store.list(base + 'b/');
    expect(items.map((i) => i.key)).toEqual([base + 'b/1', base + 'b/2']);
    expect(revision).toBeGreaterThanOrEqual(last.modRevision);
    expect((await t.store.list(base)).items.map((i) => i.key)).toEqual([base + 'a', base + 'b/1', base + 'b/2', base + 'bc/1']);
    expect((await t.store.list(t.prefix())).items).toEqual([]);
  });
}

/** Transactions: all or nothing, in one revision, hundreds of ops at once. */
function txnTests(t: Suite): void {
  it('txn applies every op in one revision, or none', async () => {
    const base = t.prefix();
    const a = await t.store.create(base + 'a', '1');
    await t.store.create(base + 'd', 'x');
    const ok = await t.store.txn([
      { op: 'create', key: base + 'b', value: '2' },
      { op: 'update', key: base + 'a', value: '3', expectModRevision: a.modRevision },
      { op: 'delete', key: base + 'd' },
    ]);
    expect(ok.succeeded).toBe(true);
    const got = (await t.store.list(base)).items;
    expect(got.map((i) => [i.key, i.value])).toEqual([
      [base + 'a', '3'],
      [base + 'b', '2'],
    ]);
    expect(new Set(got.map((i) => i.modRevision))).toEqual(new Set([ok.revision]));

    const failed = await t.store.txn([
      { op: 'create', key: base + 'c', value: '4' },
      { op: 'update', key: base + 'a', value: '5', expectModRevision: a.modRevision },
      { op: 'create', key: base + 'b', value: '6' },
    ]);
    expect(failed.succeeded).toBe(false);
    expect(failed.failedIndex).toBe(1);
    expect(await t.store.get(base + 'c')).toBeUndefined();
    expect((await t.store.get(base + 'a'))?.value).toBe('3');

    const b = await t.store.get(base + 'b');
    const del = await t.store.txn([{ op: 'delete', key: base + 'b', expectModRevision: (b?.modRevision ?? 0) + 1000 }]);
    expect(del).toMatchObject({ succeeded: false, failedIndex: 0 });
    expect(await code(t.store.txn([{ op: 'create', key: base + 'z', value: '1' }, { op: 'delete', key: base + 'z' }]))).toBe('InvalidArgument');
  });

  it('a check op is a compare on createRevision that writes nothing', async () => {
    const base = t.prefix();
    const fence = await t.store.create(base + 'fence', 'leader');
    const touched = await t.store.update(base + 'fence', 'still', fence.modRevision);
    // Holds while the key lives, whatever its later updates (they keep its createRevision).
    const ok = await t.store.txn([
      { op: 'check', key: base + 'fence', expectCreateRevision: fence.createRevision },
      { op: 'create', key: base + 'a', value: '1' },
    ]);
    expect(ok.succeeded).toBe(true);
    expect(await t.store.get(base + 'fence')).toEqual(touched);
    expect((await t.store.txn([{ op: 'check', key: base + 'fence', expectCreateRevision: fence.createRevision }])).succeeded).toBe(true);
    expect(await t.store.get(base + 'fence')).toEqual(touched);
    // A wrong createRevision, the key gone, the key re-created: the whole txn fails at the check.
    const wrong = await t.store.txn([
      { op: 'create', key: base + 'b', value: '1' },
      { op: 'check', key: base + 'fence', expectCreateRevision: fence.createRevision + 1 },
    ]);
    expect(wrong).toMatchObject({ succeeded: false, failedIndex: 1 });
    await t.store.delete(base + 'fence');
    const gone = await t.store.txn([
      { op: 'check', key: base + 'fence', expectCreateRevision: fence.createRevision },
      { op: 'create', key: base + 'b', value: '1' },
    ]);
    expect(gone).toMatchObject({ succeeded: false, failedIndex: 0 });
    const again = await t.store.create(base + 'fence', 'next leader');
    const recreated = await t.store.txn([
      { op: 'check', key: base + 'fence', expectCreateRevision: fence.createRevision },
      { op: 'create', key: base + 'b', value: '1' },
    ]);
    expect(recreated).toMatchObject({ succeeded: false, failedIndex: 0 });
    expect(await t.store.get(base + 'b')).toBeUndefined();
    // A later compare that fails is still named after a check that holds.
    const a = await t.store.get(base + 'a');
    const later = await t.store.txn([
      { op: 'check', key: base + 'fence', expectCreateRevision: again.createRevision },
      { op: 'update', key: base + 'a', value: '2', expectModRevision: (a?.modRevision ?? 0) + 1000 },
    ]);
    expect(later).toMatchObject({ succeeded: false, failedIndex: 1 });
    // createRevision 0: "does not exist".
    expect((await t.store.txn([{ op: 'check', key: base + 'none', expectCreateRevision: 0 }])).succeeded).toBe(true);
    expect((await t.store.txn([{ op: 'check', key: base + 'fence', expectCreateRevision: 0 }])).succeeded).toBe(false);
    expect((await t.store.list(base)).items.map((i) => i.key)).toEqual([base + 'a', base + 'fence']);
  });

  it('txn commits hundreds of ops at once', async () => {
    const base = t.prefix();
    const ops = Array.from({ length: 500 }, (_, i) => ({ op: 'create' as const, key: `${base}${String(i).padStart(4, '0')}`, value: JSON.stringify({ i }) }));
    const r = await t.store.txn(ops);
    expect(r.succeeded).toBe(true);
    const { items } = await t.store.list(base);
    expect(items).toHaveLength(500);
    expect(items.every((i) => i.modRevision === r.revision)).toBe(true);
  });
}

/** Watches: history from a revision, live events with prev values, abort, Gone after compaction. */
function watchTests(t: Suite): void {
  it('watch replays history from a revision, batched per revision, filtered by prefix', async () => {
    const base = t.prefix();
    const start = (await t.store.revision()) + 1;
    await t.store.put(base + 'x/1', '1');
    await t.store.put(t.prefix() + 'other', 'no');
    await t.store.txn([
      { op: 'create', key: base + 'x/2', value: '2' },
      { op: 'create', key: base + 'x/3', value: '3' },
    ]);
    const del = await t.store.delete(base + 'x/1');
    const batches = await collect(t.store, base, start, 4);
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
    const base = t.prefix();
    await t.store.put(base + 'k', 'old');
    const pending = collect(t.store, base, undefined, 2);
    await new Promise((r) => setTimeout(r, 200));
    await t.store.put(base + 'k', 'new');
    await t.store.delete(base + 'k');
    const batches = await pending;
    const evs = batches.flat();
    expect(evs.map((e) => e.type)).toEqual(['put', 'delete']);
    const put = evs[0];
    expect(put?.type === 'put' && put.kv.value).toBe('new');
    expect(put?.type === 'put' && put.prev?.value).toBe('old');
  });

  it('watch ends when its signal is aborted', async () => {
    const ac = new AbortController();
    const it0 = t.store.watch(t.prefix(), { signal: ac.signal })[Symbol.asyncIterator]();
    const next = it0.next();
    setTimeout(() => ac.abort(), 50);
    const r = await Promise.race([next, new Promise((res) => setTimeout(() => res('timeout'), 3000))]);
    expect(r).toEqual({ value: undefined, done: true });
  });

  it('watch from a compacted revision fails with Gone', async () => {
    const base = t.prefix();
    const first = await t.store.put(base + 'a', '1');
    await t.store.put(base + 'a', '2');
    const cur = await t.store.put(base + 'a', '3');
    await t.store.compact(cur.modRevision);
    const ac = new AbortController();
    try {
      const iter = t.store.watch(base, { fromRevision: first.modRevision, signal: ac.signal })[Symbol.asyncIterator]();
      expect(await code(iter.next())).toBe('Gone');
    } finally {
      ac.abort();
    }
    const after = await t.store.put(base + 'a', '4');
    const batches = await collect(t.store, base, cur.modRevision + 1, 1);
    expect(batches.flat().map((e) => e.type === 'put' && e.kv.modRevision)).toEqual([after.modRevision]);
  });
}

/** Leases: expiry deletes their keys, keep-alive holds them, revoke deletes at once. */
function leaseTests(t: Suite): void {
  it('a lease deletes its keys when it expires; keepAlive holds it; revoke deletes at once', async () => {
    const base = t.prefix();
    const held = await t.store.grantLease(TTL);
    const dropped = await t.store.grantLease(TTL);
    const revoked = await t.store.grantLease(TTL);
    expect(held.ttlSeconds).toBe(TTL);
    await t.store.create(base + 'held', '1', { lease: held });
    await t.store.put(base + 'dropped', '1', { lease: dropped });
    await t.store.put(base + 'revoked', '1', { lease: revoked });
    await t.store.put(base + 'plain', '1');
    await revoked.revoke();
    expect(await t.store.get(base + 'revoked')).toBeUndefined();
    for (let i = 0; i < 5; i++) {
      await t.harness.advance(1000);
      await held.keepAlive();
    }
    await t.harness.advance(1000);
    expect(await t.store.get(base + 'dropped')).toBeUndefined();
    expect(await t.store.get(base + 'held')).toBeDefined();
    expect(await t.store.get(base + 'plain')).toBeDefined();
    expect(await code(dropped.keepAlive())).toBe('NotFound');
    expect(await code(t.store.put(base + 'x', '1', { lease: dropped }))).toBe('NotFound');
    await held.revoke();
    expect(await t.store.get(base + 'held')).toBeUndefined();
  });
}

/** Election: one leader at a time, resign hands over, lost fires, a canceled campaign fails, a term's fence holds for that term only. */
function electionTests(t: Suite): void {
  it('election: one leader at a time; resign hands over; lost fires', async () => {
    const name = `conf-${randomBytes(4).toString('hex')}`;
    const a = t.store.election(name, 'a', TTL);
    const b = t.store.election(name, 'b', TTL);
    const ac = new AbortController();
    const aFence = await a.campaign(ac.signal);
    expect(await a.leader()).toBe('a');
    expect(aFence.key.startsWith(electionPrefix(name))).toBe(true);
    expect((await t.store.get(aFence.key))?.createRevision).toBe(aFence.createRevision);
    let bLeads = false;
    const bCampaign = b.campaign(ac.signal).then((f) => {
      bLeads = true;
      return f;
    });
    await t.harness.advance(500);
    await new Promise((r) => setTimeout(r, 300));
    expect(bLeads).toBe(false);
    expect(a.lost.aborted).toBe(false);
    await a.resign();
    expect(a.lost.aborted).toBe(true);
    const bFence = await bCampaign;
    expect(bLeads).toBe(true);
    expect(await b.leader()).toBe('b');
    // The leader keeps its lease alive on its own across several TTLs.
    for (let i = 0; i < 3; i++) await t.harness.advance(1000);
    expect(b.lost.aborted).toBe(false);
    expect(await b.leader()).toBe('b');

    // The term's fence: holds for b's term only.
    expect((await t.store.txn([fenceCheck(bFence)])).succeeded).toBe(true);
    expect((await t.store.txn([fenceCheck(aFence)])).succeeded).toBe(false);
    expect(bFence.key).not.toBe(aFence.key);

    const c = t.store.election(name, 'c', TTL);
    const cc = new AbortController();
    const cCampaign = code(c.campaign(cc.signal));
    await new Promise((r) => setTimeout(r, 200));
    cc.abort();
    expect(await cCampaign).toBe('Canceled');
    expect(c.lost.aborted).toBe(true);
    await b.resign();
    expect(await b.leader()).toBeUndefined();
    expect((await t.store.txn([fenceCheck(bFence)])).succeeded).toBe(false);
  });
}
