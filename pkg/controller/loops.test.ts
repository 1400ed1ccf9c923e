import { afterEach, describe, expect, it, vi } from 'vitest';
import { isTerminal, type Node, type Service, type Task } from '../api/index.js';
import { makeNode, makeService, makeTask, runSchedulerLoop } from '../scheduler/index.js';
import {
  decodeObject, encodeObject, FakeClock, Informer, MemoryStore, objectKey, resourcePrefix, storeKeyOf, StoreElection,
  type Lease, type Store, type StoreEvent, type TxnOp, type TxnResult,
} from '../store/index.js';
import { HeartbeatService } from './heartbeat.js';
import { runControlLoops, type ControlLoops } from './loops.js';
import { ControllerMetrics } from './metrics.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** How vi.waitFor polls in these tests. */
const poll = { timeout: 10_000, interval: 25 };

async function listTasks(store: Store): Promise<Task[]> {
  return (await store.list(resourcePrefix('tasks'))).items.map((kv) => decodeObject<Task>(kv));
}
async function getNode(store: Store, name: string): Promise<Node | undefined> {
  const kv = await store.get(objectKey('nodes', undefined, name));
  return kv ? decodeObject<Node>(kv) : undefined;
}

/** A fake agent: moves assigned tasks of live nodes to running, and shutdown-desired ones to shutdown. */
function fakeAgents(store: Store, alive: Set<string>): () => void {
  const t = setInterval(() => {
    void (async () => {
      for (const kv of (await store.list(resourcePrefix('tasks'))).items) {
        const task = decodeObject<Task>(kv);
        if (!alive.has(task.spec.nodeName ?? '') || isTerminal(task.status.state)) continue;
        const state = task.spec.desiredState === 'shutdown' ? 'shutdown' : task.status.state === 'assigned' ? 'running' : undefined;
        if (state === undefined) continue;
        await store.update(kv.key, encodeObject({ ...task, status: { ...task.status, state } } as Task), kv.modRevision).catch(() => undefined);
      }
    })();
  }, 50);
  return () => clearInterval(t);
}

function startLoops(store: Store, id: string, nodeTimeoutMs = 2000, metrics?: ControllerMetrics): { loops: ControlLoops; ac: AbortController } {
  const ac = new AbortController();
  const loops = runControlLoops({ store, clusterCidr: '10.244.0.0/16', nodeTimeoutMs, signal: ac.signal, controllerId: id, leaderTtlSeconds: 2, ...(metrics ? { metrics } : {}) });
  cleanups.push(async () => {
    ac.abort();
    await loops.done;
  });
  return { loops, ac };
}

async function seed(store: Store, nodes: string[], service: Service): Promise<void> {
  for (const n of nodes) await store.create(objectKey('nodes', undefined, n), encodeObject(makeNode({ name: n, memory: '4Gi' })));
  await store.create(storeKeyOf(service), encodeObject(service));
}

/** A MemoryStore with `nodes` and `service`, fake agents on the live nodes, and their heartbeats every 300 ms. */
async function cluster(nodes: string[], service: Service, nodeTimeoutMs: number): Promise<{ store: MemoryStore; alive: Set<string> }> {
  const store = new MemoryStore();
  cleanups.push(() => store.close());
  await seed(store, nodes, service);
  const alive = new Set(nodes);
  cleanups.push(fakeAgents(store, alive));
  const hb = new HeartbeatService({ store, nodeTimeoutMs });
  const beats = setInterval(() => {
    for (const n of alive) void hb.beat(n).catch(() => undefined);
  }, 300);
  cleanups.push(() => clearInterval(beats));
  return { store, alive };
}

describe('control loops on MemoryStore', () => {
  it('a node whose lease expires goes down, its task is orphaned and replaced elsewhere; it comes back ready', async () => {
    const { store, alive } = await cluster(['n1', 'n2', 'n3'], makeService('web', { replicas: 3 }), 2000);
    startLoops(store, 'c1');

    const running = await vi.waitFor(async () => {
      const ts = (await listTasks(store)).filter((t) => t.status.state === 'running');
      expect(ts, '3 running tasks').toHaveLength(3);
      expect(new Set(ts.map((t) => t.spec.nodeName)).size, 'on 3 nodes').toBe(3);
      return ts;
    }, poll);
    expect(running.map((t) => t.spec.slot).sort()).toEqual([1, 2, 3]);
    expect((await getNode(store, 'n1'))?.spec.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
    const cidrs = await Promise.all(['n1', 'n2', 'n3'].map(async (n) => (await getNode(store, n))?.spec.podCIDR));
    expect(new Set(cidrs).size).toBe(3);

    const victim = running.find((t) => t.spec.nodeName === 'n3');
    alive.delete('n3');
    await vi.waitFor(async () => expect((await getNode(store, 'n3'))?.status.state, 'n3 down').toBe('down'), poll);
    await vi.waitFor(async () => {
      const ts = await listTasks(store);
      const old = ts.find((t) => t.metadata.name === victim?.metadata.name);
      const live = ts.filter((t) => t.status.state === 'running');
      expect(old?.status.state, 'the n3 task orphaned').toBe('orphaned');
      expect(live, 'and replaced').toHaveLength(3);
      expect(live.every((t) => t.spec.nodeName !== 'n3'), 'on another node').toBe(true);
      // Replaced: no longer wanted (Swarm's rule), and its status still says why it ended.
      expect(old?.spec.desiredState, 'the replaced task desired').toBe('shutdown');
      expect(old?.status.message, 'its status message').toBe('node n3 is down');
    }, poll);
    const svc = decodeObject<Service>((await store.get(storeKeyOf(makeService('web')))) ?? { key: '', value: '{}', createRevision: 0, modRevision: 0 });
    expect(svc.status?.readyReplicas).toBe(3);

    alive.add('n3');
    await vi.waitFor(async () => expect((await getNode(store, 'n3'))?.status.state, 'n3 ready again').toBe('ready'), poll);
  }, 20_000);

  it('drain moves tasks off a node; pause stops new placements', async () => {
    const store = new MemoryStore();
    cleanups.push(() => store.close());
    await seed(store, ['n1', 'n2'], makeService('web', { replicas: 4 }));
    const alive = new Set(['n1', 'n2']);
    cleanups.push(fakeAgents(store, alive));
    const hb = new HeartbeatService({ store, nodeTimeoutMs: 5000 });
    for (const n of alive) await hb.beat(n);
    startLoops(store, 'c1', 5000);
    await vi.waitFor(async () => expect((await listTasks(store)).filter((t) => t.status.state === 'running'), '4 running').toHaveLength(4), poll);
    const kv = await store.get(objectKey('nodes', undefined, 'n2'));
    const n2 = decodeObject<Node>(kv ?? { key: '', value: '{}', createRevision: 0, modRevision: 0 });
    await store.update(objectKey('nodes', undefined, 'n2'), encodeObject({ ...n2, spec: { ...n2.spec, availability: 'drain' } }), kv?.modRevision ?? 0);
    await vi.waitFor(async () => {
      const live = (await listTasks(store)).filter((t) => !isTerminal(t.status.state));
      expect(live, '4 live tasks').toHaveLength(4);
      expect(live.every((t) => t.spec.nodeName === 'n1' && t.status.state === 'running'), 'all running on n1, n2 empty').toBe(true);
    }, poll);
  }, 20_000);

  it('leader takeover keeps every task (no restart) and the new leader keeps reconciling', async () => {
    const { store } = await cluster(['n1', 'n2'], makeService('web', { replicas: 2 }), 5000);
    const a = startLoops(store, 'a', 5000);
    await vi.waitFor(() => expect(a.loops.isLeader(), 'a leads').toBe(true), poll);
    const b = startLoops(store, 'b', 5000);
    await vi.waitFor(async () => expect((await listTasks(store)).filter((t) => t.status.state === 'running'), '2 running').toHaveLength(2), poll);
    expect(b.loops.isLeader()).toBe(false);
    expect(await b.loops.leaderId()).toBe('a');
    const before = (await listTasks(store)).map((t) => t.metadata.name).sort();
    a.ac.abort();
    await a.loops.done;
    await vi.waitFor(() => expect(b.loops.isLeader(), 'b leads').toBe(true), poll);
    await new Promise((r) => setTimeout(r, 300));
    expect((await listTasks(store)).map((t) => t.metadata.name).sort()).toEqual(before);
    // b reconciles: scale up.
    const kv = await store.get(storeKeyOf(makeService('web')));
    const svc = decodeObject<Service>(kv ?? { key: '', value: '{}', createRevision: 0, modRevision: 0 });
    await store.update(storeKeyOf(svc), encodeObject({ ...svc, metadata: { ...svc.metadata, generation: 1 }, spec: { ...svc.spec, replicas: 3 } }), kv?.modRevision ?? 0);
    await vi.waitFor(async () => expect((await listTasks(store)).filter((t) => t.status.state === 'running'), '3 running').toHaveLength(3), poll);
  }, 20_000);
});

describe('scheduler loop', () => {
  it('commits placements in batched transactions and explains the unschedulable', async () => {
    const store = new MemoryStore();
    cleanups.push(() => store.close());
    const txns: number[] = [];
    const counting: Store = Object.create(store) as Store;
    counting.txn = (ops: TxnOp[]): Promise<TxnResult> => {
      txns.push(ops.length);
      return store.txn(ops);
    };
    for (let i = 0; i < 10; i++) await store.create(objectKey('nodes', undefined, `n${i}`), encodeObject(makeNode({ name: `n${i}`, memory: '1Gi' })));
    const ops: TxnOp[] = [];
    for (let i = 0; i < 300; i++) {
      const t = makeTask({ service: 'web', slot: i + 1, name: `web.${i + 1}.x`, memory: '10Mi' });
      ops.push({ op: 'create', key: `${resourcePrefix('tasks')}default/${t.metadata.name}`, value: encodeObject(t) });
    }
    const big = makeTask({ service: 'big', slot: 1, name: 'big.1.x', memory: '2Gi' });
    ops.push({ op: 'create', key: `${resourcePrefix('tasks')}default/big.1.x`, value: encodeObject(big) });
    await store.txn(ops);
    txns.length = 0;
    const ac = new AbortController();
    const tasks = new Informer<Task>({ store, prefix: resourcePrefix('tasks'), decode: (kv) => decodeObject<Task>(kv) });
    const nodes = new Informer<Node>({ store, prefix: resourcePrefix('nodes'), decode: (kv) => decodeObject<Node>(kv) });
    const runs = [tasks.run(ac.signal), nodes.run(ac.signal), runSchedulerLoop({ store: counting, tasks, nodes, signal: ac.signal })];
    cleanups.push(async () => {
      ac.abort();
      await Promise.all(runs);
    });
    const all = await vi.waitFor(async () => {
      const ts = await listTasks(store);
      expect(ts.filter((t) => t.status.state === 'assigned'), '300 assigned').toHaveLength(300);
      return ts;
    }, poll);
    const per = new Map<string, number>();
    for (const t of all) if (t.spec.nodeName) per.set(t.spec.nodeName, (per.get(t.spec.nodeName) ?? 0) + 1);
    expect([...per.values()]).toEqual(Array(10).fill(30));
    expect(txns.length).toBeLessThanOrEqual(4);
    expect(Math.max(...txns)).toBeLessThanOrEqual(128);
    await vi.waitFor(async () => expect((await listTasks(store)).find((t) => t.metadata.name === 'big.1.x')?.status.message, 'big explained').toBe('no node fits: insufficient memory on 10 nodes'), poll);
    // More room: a new node makes the big task fit (event-driven retry).
    await store.create(objectKey('nodes', undefined, 'huge'), encodeObject(makeNode({ name: 'huge', memory: '8Gi' })));
    await vi.waitFor(async () => expect((await listTasks(store)).find((t) => t.metadata.name === 'big.1.x')?.spec.nodeName, 'big placed on huge').toBe('huge'), poll);
  });

  it('the leader counts tasks and nodes by state for /metrics', async () => {
    const { store } = await cluster(['m1', 'm2'], makeService('counted', { replicas: 2 }), 2000);
    const metrics = new ControllerMetrics();
    startLoops(store, 'metrics-1', 2000, metrics);
    await vi.waitFor(async () => expect(await metrics.text(), 'two running tasks in the gauges').toContain('shoal_tasks{state="running"} 2'), poll);
    expect(await metrics.text()).toContain('shoal_nodes{state="ready"} 2');
  });
});

/**
 * A controller's view of a shared MemoryStore that can be frozen, as SIGSTOP would: while
 * frozen its transactions and lease renewals wait (reads and watches go on, so its loops keep
 * deciding and their writes pile up at the gate); `thaw` lets everything through at once.
 * Elections made through it run on it, with the store's clock.
 */
function freezable(inner: MemoryStore, clock: FakeClock): { store: Store; freeze(): void; thaw(): void; held: () => TxnOp[][]; landedAfterThaw: () => number } {
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  let thawed = false;
  let landed = 0;
  const held: TxnOp[][] = [];
  const pass = async (): Promise<void> => {
    if (gate) await gate;
  };
  const store: Store = {
    get: (k) => inner.get(k),
    list: (p) => inner.list(p),
    create: (k, v, o) => inner.create(k, v, o),
    update: (k, v, r, o) => inner.update(k, v, r, o),
    put: (k, v, o) => inner.put(k, v, o),
    delete: (k, o) => inner.delete(k, o),
    watch: (p, o) => inner.watch(p, o),
    revision: () => inner.revision(),
    compact: (r) => inner.compact(r),
    close: () => Promise.resolve(),
    async txn(ops: TxnOp[]): Promise<TxnResult> {
      if (gate) {
        held.push(ops);
        await gate;
      }
      const r = await inner.txn(ops);
      if (thawed && r.succeeded && ops.some((o) => o.op !== 'check')) landed++;
      return r;
    },
    async grantLease(ttl: number): Promise<Lease> {
      const lease = await inner.grantLease(ttl);
      return {
        id: lease.id,
        ttlSeconds: lease.ttlSeconds,
        keepAlive: async () => {
          await pass();
          await lease.keepAlive();
        },
        revoke: () => lease.revoke(),
      };
    },
    election: (name, value, ttl) => new StoreElection(store, name, value, ttl, clock),
  };
  return {
    store,
    freeze: () => {
      gate = new Promise<void>((r) => (open = r));
    },
    thaw: () => {
      thawed = true;
      gate = undefined;
      open();
    },
    held: () => held,
    landedAfterThaw: () => landed,
  };
}

describe('fencing', () => {
  it('a leader that lost its election while a decision was pending does not land it after the new leader changed the service', async () => {
    // Leases and elections run on a fake clock (so the frozen leader's lease expires when the
    // test says); the loops themselves run in real time.
    const clock = new FakeClock(Date.now());
    const store = new MemoryStore({ clock });
    cleanups.push(() => store.close());
    const svc0 = makeService('web', { replicas: 1 }, 1);
    await store.create(storeKeyOf(svc0), encodeObject(svc0));
    const setService = async (replicas: number, generation: number): Promise<number> => {
      const kv = await store.get(storeKeyOf(svc0));
      const cur = decodeObject<Service>(kv ?? { key: '', value: '{}', createRevision: 0, modRevision: 0 });
      const next = { ...cur, metadata: { ...cur.metadata, generation }, spec: { ...cur.spec, replicas } };
      return (await store.update(storeKeyOf(svc0), encodeObject(next), kv?.modRevision ?? 0)).modRevision;
    };
    const events: string[] = [];
    const a = freezable(store, clock);
    const acA = new AbortController();
    const loopsA = runControlLoops({ store: a.store, clusterCidr: '10.244.0.0/16', nodeTimeoutMs: 2000, signal: acA.signal, controllerId: 'a', leaderTtlSeconds: 2, onEvent: (e) => events.push(`a:${e.type}`) });
    cleanups.push(async () => {
      a.thaw();
      acA.abort();
      await loopsA.done;
    });
    await vi.waitFor(() => expect(loopsA.isLeader(), 'a leads').toBe(true), poll);
    await vi.waitFor(async () => expect(await listTasks(store), 'a created slot 1').toHaveLength(1), poll);
    const b = startLoops(store, 'b', 2000);

    // a freezes; then the service is scaled to 4: a decides to create 3 tasks, and that
    // transaction waits at the gate (a genuinely pending decision).
    a.freeze();
    await setService(4, 2);
    await vi.waitFor(() => expect(a.held().some((ops) => ops.filter((o) => o.op === 'create').length === 3), 'a holds its 3 creates').toBe(true), poll);

    // a's lease runs out (its renewals hang); b takes over and does the scale itself.
    for (let i = 0; i < 30 && !b.loops.isLeader(); i++) await clock.advance(100);
    await vi.waitFor(() => expect(b.loops.isLeader(), 'b leads').toBe(true), poll);
    await vi.waitFor(async () => expect((await listTasks(store)).filter((t) => t.spec.serviceGeneration === 2), 'b created 3').toHaveLength(3), poll);

    // The service changes again under the new leader: back to 1 replica. b removes slots 2-4.
    const watching = new AbortController();
    cleanups.push(() => watching.abort());
    const seen: StoreEvent[] = [];
    const changedAt = await setService(1, 3);
    const watch = (async () => {
      for await (const batch of store.watch(resourcePrefix('tasks'), { fromRevision: changedAt + 1, signal: watching.signal })) seen.push(...batch);
    })();
    await vi.waitFor(async () => expect(await listTasks(store), 'b scaled down to slot 1').toHaveLength(1), poll);

    // a resumes with its decision still pending: the store refuses it.
    a.thaw();
    await vi.waitFor(() => expect(events, 'a ended its term').toContain('a:lost'), poll);
    await vi.waitFor(() => expect(loopsA.isLeader()).toBe(false), poll);
    await new Promise((r) => setTimeout(r, 300));
    watching.abort();
    await watch;

    expect(a.landedAfterThaw(), 'no transaction of the stale leader landed').toBe(0);
    const created = seen.filter((e): e is Extract<StoreEvent, { type: 'put' }> => e.type === 'put' && e.prev === undefined).map((e) => decodeObject<Task>(e.kv));
    expect(created.filter((t) => t.spec.serviceGeneration !== 3), 'no task of an older generation created after the change').toEqual([]);
    const live = (await listTasks(store)).filter((t) => t.spec.desiredState === 'running');
    expect(live.map((t) => t.spec.slot)).toEqual([1]);
    expect(b.loops.isLeader()).toBe(true);
  }, 30_000);
});
