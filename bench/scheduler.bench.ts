/**
 * Scheduler benchmark (not a test). Run through `bench/scheduler` (bundles this file).
 *   bench/scheduler [--nodes 5000] [--services 500] [--tasks-per-service 300] [--no-etcd]
 * Prints: in-memory placements/s (pure `schedule`, one core), then with a real etcd (started
 * on free loopback ports): placements/s committed by the scheduler loop in batched CAS txns,
 * the process RSS with the informer caches at that size, and p99 latency of a single store
 * `get` and CAS `update` of an unrelated key while the scheduler commits.
 */
import { performance } from 'node:perf_hooks';
import type { Node, Task } from '../pkg/api/index.js';
import { buildNodeInfos, commitInBatches, decodeObject, encodeObject, nodeKey, NODES_PREFIX, runSchedulerLoop, schedule, taskKey, TASKS_PREFIX } from '../pkg/scheduler/index.js';
import { makeNode, makeTask } from '../pkg/scheduler/fixtures.js';
import { EtcdStore, Informer, type TxnOp } from '../pkg/store/index.js';
import { etcdAvailable, startEtcd } from '../test/e2e/harness/etcd.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const NODES = arg('nodes', 5000);
const SERVICES = arg('services', 500);
const PER = arg('tasks-per-service', 300);
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MB`;

function world(): { nodes: Node[]; tasks: Task[] } {
  const zones = ['a', 'b', 'c'];
  const nodes = Array.from({ length: NODES }, (_, i) => makeNode({ name: `node-${i}`, cpu: '16', memory: '64Gi', pods: 110, labels: { zone: zones[i % 3] ?? 'a' } }));
  const tasks: Task[] = [];
  for (let s = 0; s < SERVICES; s++) {
    for (let k = 1; k <= PER; k++) {
      tasks.push(
        makeTask({
          service: `svc-${s}`,
          name: `svc-${s}.${k}.b${s}x${k}`,
          slot: k,
          cpu: '100m',
          memory: '128Mi',
          // One service in ten is pinned to a zone.
          ...(s % 10 === 0 ? { constraints: [`node.labels.zone==${zones[s % 3] ?? 'a'}`] } : {}),
        }),
      );
    }
  }
  return { nodes, tasks };
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? NaN;
}

async function inMemory(): Promise<void> {
  const { nodes, tasks } = world();
  const t0 = performance.now();
  const infos = buildNodeInfos(nodes, []);
  const r = schedule(tasks, infos);
  const ms = performance.now() - t0;
  console.log(`in-memory: ${NODES} nodes, ${tasks.length} tasks of ${SERVICES} services: ${r.assignments.length} placed, ${r.unschedulable.length} unschedulable in ${ms.toFixed(0)} ms = ${Math.round((r.assignments.length / ms) * 1000)} placements/s (rss ${mb(process.memoryUsage().rss)})`);
}

async function withEtcd(): Promise<void> {
  if (!etcdAvailable()) {
    console.log('etcd: skipped (no etcd binary)');
    return;
  }
  const etcd = await startEtcd({ args: ['--quota-backend-bytes', String(8 * 1024 ** 3), '--max-request-bytes', String(8 * 1024 ** 2)] });
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  const ac = new AbortController();
  try {
    let t0 = performance.now();
    // Build and load in a scope of its own, so the RSS figures below hold only what a controller holds.
    const total = await (async () => {
      const { nodes, tasks } = world();
      const load: TxnOp[] = [...nodes.map((n) => ({ op: 'create' as const, key: nodeKey(n.metadata.name), value: encodeObject(n) })), ...tasks.map((t) => ({ op: 'create' as const, key: taskKey(t), value: encodeObject(t) }))];
      const loaded = await commitInBatches(store, load, 128);
      console.log(`etcd: loaded ${loaded.committed} objects in ${loaded.transactions} txns, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return tasks.length;
    })();
    (globalThis as { gc?: () => void }).gc?.();
    const tasks = { length: total };
    await store.put('/bench/probe', '0');

    const taskInf = new Informer<Task>({ store, prefix: TASKS_PREFIX, decode: (kv) => decodeObject<Task>(kv) });
    const nodeInf = new Informer<Node>({ store, prefix: NODES_PREFIX, decode: (kv) => decodeObject<Node>(kv) });
    const runs = [taskInf.run(ac.signal), nodeInf.run(ac.signal)];
    t0 = performance.now();
    await Promise.all([taskInf.waitForSync(), nodeInf.waitForSync()]);
    console.log(`etcd: informers synced in ${((performance.now() - t0) / 1000).toFixed(1)} s (rss ${mb(process.memoryUsage().rss)})`);

    let placed = 0;
    let txns = 0;
    let conflicts = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => (done = r));
    const gets: number[] = [];
    const puts: number[] = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        let s = performance.now();
        await store.get(`${TASKS_PREFIX}default/svc-1.1.b1x1`);
        gets.push(performance.now() - s);
        s = performance.now();
        const kv = await store.get('/bench/probe');
        await store.update('/bench/probe', String(Math.random()), kv?.modRevision ?? 0).catch(() => undefined);
        puts.push(performance.now() - s);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    t0 = performance.now();
    let maxRss = 0;
    const sched = runSchedulerLoop({
      store,
      tasks: taskInf,
      nodes: nodeInf,
      signal: ac.signal,
      onPass: (p) => {
        placed += p.placed;
        txns += p.transactions;
        conflicts += p.conflicts;
        maxRss = Math.max(maxRss, process.memoryUsage().rss);
        if (placed >= tasks.length || (p.placed === 0 && p.unschedulable === 0)) done();
      },
      onError: (e) => console.error('scheduler:', e),
    });
    await finished;
    const secs = (performance.now() - t0) / 1000;
    probing = false;
    await probe;
    console.log(`etcd: ${placed} placements committed in ${secs.toFixed(1)} s = ${Math.round(placed / secs)} placements/s (${txns} txns, ${conflicts} conflicts)`);
    (globalThis as { gc?: () => void }).gc?.();
    console.log(`etcd: rss peak ${mb(maxRss)} during the passes, ${mb(process.memoryUsage().rss)} (heap ${mb(process.memoryUsage().heapUsed)}) after, with ${NODES} nodes and ${total} tasks cached`);
    console.log(`etcd: while scheduling, p99 store get ${p99(gets).toFixed(1)} ms, p99 get+CAS update ${p99(puts).toFixed(1)} ms (${gets.length} samples; direct store calls, not through the API server)`);
    ac.abort();
    await Promise.all([...runs, sched]);
  } finally {
    ac.abort();
    await store.close();
    await etcd.stop();
  }
}

await inMemory();
(globalThis as { gc?: () => void }).gc?.();
if (!process.argv.includes('--no-etcd')) await withEtcd();
