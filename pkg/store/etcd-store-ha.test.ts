/**
 * EtcdStore on a real 3-member etcd cluster: the etcd leader dies (writes go on within a few
 * seconds, none acknowledged is lost), two members die (every call, also one in flight,
 * fails with Unavailable within a second instead of at etcd's 7 s timeout), they come back
 * (calls and watches resume without losing an event).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdAvailable, startEtcdCluster, type TestEtcd, type TestEtcdCluster } from '../../test/e2e/harness/etcd.js';
import { EtcdStore } from './etcd-store.js';
import type { StoreEvent } from './store.js';

const hasEtcd = etcdAvailable();

describe.skipIf(!hasEtcd)('EtcdStore on a 3-member etcd cluster', () => {
  let cluster: TestEtcdCluster;
  let store: EtcdStore;
  beforeAll(async () => {
    cluster = await startEtcdCluster(3);
    store = new EtcdStore({ endpoints: cluster.endpoints });
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
  });

  it('loses no acknowledged write when the leader member is SIGKILLed, and writes again within seconds', async () => {
    const acked: string[] = [];
    let n = 0;
    const writeOnce = async (): Promise<boolean> => {
      const key = `/ha/w/${String(n++).padStart(5, '0')}`;
      // A failed call returns at once: leave the event loop room for the health probes.
      await new Promise((r) => setTimeout(r, 10));
      try {
        await store.create(key, 'v');
        acked.push(key);
        return true;
      } catch (err) {
        expect(err).toMatchObject({ code: 'Unavailable' });
        return false;
      }
    };
    for (let i = 0; i < 20; i++) expect(await writeOnce()).toBe(true);
    const leader = await cluster.leader();
    await cluster.members[leader]?.kill();
    const killedAt = Date.now();
    let firstOkAfter: number | undefined;
    while (Date.now() - killedAt < 8000) {
      const started = Date.now();
      const ok = await writeOnce();
      expect(Date.now() - started).toBeLessThan(3000);
      if (ok && firstOkAfter === undefined) firstOkAfter = Date.now() - killedAt;
      if (firstOkAfter !== undefined && Date.now() - killedAt > firstOkAfter + 500) break;
    }
    expect(firstOkAfter).toBeDefined();
    expect(firstOkAfter).toBeLessThan(5000);
    const { items } = await store.list('/ha/w/');
    const present = new Set(items.map((i) => i.key));
    expect(acked.filter((k) => !present.has(k))).toEqual([]);
    await cluster.members[leader]?.start();
    await cluster.waitHealthy();
  }, 60_000);

  it.each([
    ['the leader and a follower', true],
    ['both followers (the leader would keep its title for an election timeout)', false],
  ])('fails every call within a second while two members are down (%s), then resumes with its watches', async (_what, withLeader) => {
    const ac = new AbortController();
    const seen: StoreEvent[] = [];
    await store.delete('/ha/q/1').catch(() => undefined);
    const from = (await store.revision()) + 1;
    const watching = (async () => {
      for await (const b of store.watch('/ha/q/', { fromRevision: from, signal: ac.signal })) seen.push(...b);
    })();
    await store.put('/ha/q/0', '0');
    const leader = await cluster.leader();
    const followers = [0, 1, 2].filter((i) => i !== leader);
    const victims = withLeader ? [leader, followers[0] as number] : followers;
    // Two members go; a write is in flight right then.
    const inflight = store.put('/ha/q/inflight', 'x').then(() => 'ok', (e: unknown) => e);
    const killedAt = Date.now();
    await Promise.all(victims.map((i) => (cluster.members[i] as TestEtcd).kill()));
    const outcome = await inflight;
    const inflightMs = Date.now() - killedAt;
    if (outcome !== 'ok') {
      expect(outcome).toMatchObject({ code: 'Unavailable' });
      expect(inflightMs).toBeLessThan(1000);
    }
    const latencies: number[] = [];
    while (Date.now() - killedAt < 4000) {
      const t0 = Date.now();
      const r = await Promise.allSettled([store.put('/ha/q/x', 'x'), store.get('/ha/q/0'), store.list('/ha/q/'), store.grantLease(5)]);
      latencies.push(Date.now() - t0);
      for (const x of r) expect(x).toMatchObject({ status: 'rejected', reason: { code: 'Unavailable', retryAfterSeconds: 1 } });
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Math.max(...latencies)).toBeLessThan(1000);
    expect(store.health()).toMatchObject({ state: 'no-leader' });

    await Promise.all(victims.map((i) => (cluster.members[i] as TestEtcd).start()));
    const backAt = Date.now();
    await retry(() => store.put('/ha/q/1', '1'));
    expect(Date.now() - backAt).toBeLessThan(10_000);
    expect(store.health()).toMatchObject({ state: 'ok' });
    await retry(async () => {
      if (!seen.some((e) => e.type === 'put' && e.kv.key === '/ha/q/1')) throw new Error('not yet');
    });
    ac.abort();
    await watching;
    const keys = seen.map((e) => (e.type === 'put' ? e.kv.key : e.key));
    expect(keys[0]).toBe('/ha/q/0');
    expect(keys[keys.length - 1]).toBe('/ha/q/1');
    await cluster.waitHealthy();
  }, 60_000);
});

async function retry<T>(fn: () => Promise<T>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
