/**
 * Scheduler benchmark (not a test). Run through `bench/scheduler` (bundles this file).
 *   bench/scheduler [--nodes 5000] [--services 500] [--tasks-per-service 300] [--chunk 2000] [--concurrency 3] [--no-etcd] [--tls]
 * --tls: as the controller runs since issue 13: etcd started the way the embedded one is
 * (EtcdSupervisor: https with client certificates), and the API over HTTPS with the cluster's
 * authentication (ClusterSecurity in the same store; the probe presents the admin certificate).
 * Run once with and once without to see what TLS costs.
 * Prints: in-memory placements/s (pure `schedule`, one core), then with a real etcd (started
 * on free loopback ports): placements/s committed by the scheduler loop in batched CAS txns,
 * the process RSS (sampled every 100 ms while it commits: max) with the informer caches at that
 * size, and p99 latency of `GET /apis/shoal/v1/namespaces/default/services/<name>` and of a
 * merge `PATCH` (a label) through the API server (`buildApiServer` on the same EtcdStore,
 * listening on 127.0.0.1:0, called with undici) while the scheduler commits. The API server
 * runs in the same process as the scheduler, as in `shoal-controller`.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Node, Task } from '../pkg/api/index.js';
import { buildNodeInfos, makeNode, makeTask, runSchedulerLoop, schedule } from '../pkg/scheduler/index.js';
import { commitInBatches, decodeObject, encodeObject, EtcdStore, Informer, objectKey, resourcePrefix, storeKeyOf, type TxnOp } from '../pkg/store/index.js';
import { etcdAvailable, startEtcd } from '../test/e2e/harness/etcd.js';
import { buildApiServer, ClusterSecurity, ControllerMetrics, EtcdSupervisor } from '../pkg/controller/index.js';
import { Pool } from 'undici';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const NODES = arg('nodes', 5000);
const SERVICES = arg('services', 500);
const PER = arg('tasks-per-service', 300);
const CHUNK = arg('chunk', 2000);
const CONCURRENCY = arg('concurrency', 3);
const TLS = process.argv.includes('--tls');
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
  const etcdArgs = ['--quota-backend-bytes', String(8 * 1024 ** 3), '--max-request-bytes', String(8 * 1024 ** 2)];
  const tmp = TLS ? await mkdtemp(join(tmpdir(), 'shoal-bench-sched-')) : '';
  const etcd = TLS ? await EtcdSupervisor.start({ dir: join(tmp, 'etcd'), extraArgs: etcdArgs }) : await startEtcd({ args: etcdArgs });
  const store = new EtcdStore({ endpoints: etcd.endpoints, ...(etcd instanceof EtcdSupervisor ? { tls: etcd.tls } : {}) });
  console.log(`etcd: ${TLS ? 'https with client certificates, API over mTLS with authentication' : 'plain http, API over plain HTTP without authentication'}`);
  const ac = new AbortController();
  try {
    let t0 = performance.now();
    // Build and load in a scope of its own, so the RSS figures below hold only what a controller holds.
    const total = await (async () => {
      const { nodes, tasks } = world();
      const load: TxnOp[] = [...nodes.map((n) => ({ op: 'create' as const, key: objectKey('nodes', undefined, n.metadata.name), value: encodeObject(n) })), ...tasks.map((t) => ({ op: 'create' as const, key: storeKeyOf(t), value: encodeObject(t) }))];
      const loaded = await commitInBatches(store, load, 128, undefined, 3);
      console.log(`etcd: loaded ${loaded.committed} objects in ${loaded.transactions} txns, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return tasks.length;
    })();
    (globalThis as { gc?: () => void }).gc?.();
    const tasks = { length: total };

    const taskInf = new Informer<Task>({ store, prefix: resourcePrefix('tasks'), decode: (kv) => decodeObject<Task>(kv) });
    const nodeInf = new Informer<Node>({ store, prefix: resourcePrefix('nodes'), decode: (kv) => decodeObject<Node>(kv) });
    const runs = [taskInf.run(ac.signal), nodeInf.run(ac.signal)];
    t0 = performance.now();
    await Promise.all([taskInf.waitForSync(), nodeInf.waitForSync()]);
    console.log(`etcd: informers synced in ${((performance.now() - t0) / 1000).toFixed(1)} s (rss ${mb(process.memoryUsage().rss)})`);

    let placed = 0;
    let txns = 0;
    let conflicts = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => (done = r));
    const security = TLS ? await ClusterSecurity.bootstrap({ store, clusterKey: randomBytes(32) }) : undefined;
    const securityRun = security?.run(ac.signal);
    await security?.waitForSync();
    const serving = await security?.serverCertificate(['127.0.0.1']);
    const admin = await security?.adminCertificate();
    const app = buildApiServer({
      security: security ?? 'off',
      store,
      metrics: new ControllerMetrics(),
      ...(security && serving ? { tls: { certPem: serving.certPem, keyPem: serving.keyPem, caPem: security.ca.certPem }, heartbeat: { beat: async () => undefined } } : {}),
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const api = new Pool(address, { connections: 2, ...(security && admin ? { connect: { ca: security.ca.certPem, cert: admin.certPem, key: admin.keyPem } } : {}) });
    const svcPath = '/apis/shoal/v1/namespaces/default/services/bench-probe';
    const created = await api.request({
      method: 'POST',
      path: '/apis/shoal/v1/namespaces/default/services',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'bench-probe' }, spec: { replicas: 0, template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } } } }),
    });
    if (created.statusCode !== 201) throw new Error(`create bench-probe: ${created.statusCode} ${await created.body.text()}`);
    await created.body.dump();
    const gets: number[] = [];
    const puts: number[] = [];
    const bad: string[] = [];
    let probing = true;
    let n = 0;
    const probe = (async () => {
      while (probing) {
        let s = performance.now();
        const g = await api.request({ method: 'GET', path: svcPath });
        await g.body.dump();
        gets.push(performance.now() - s);
        if (g.statusCode !== 200) bad.push(`GET ${g.statusCode}`);
        s = performance.now();
        const p = await api.request({ method: 'PATCH', path: svcPath, headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { probe: String(n++) } } }) });
        await p.body.dump();
        puts.push(performance.now() - s);
        if (p.statusCode !== 200) bad.push(`PATCH ${p.statusCode}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    t0 = performance.now();
    let maxRss = 0;
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 100);
    const sched = runSchedulerLoop({
      store,
      tasks: taskInf,
      nodes: nodeInf,
      signal: ac.signal,
      chunkSize: CHUNK,
      concurrency: CONCURRENCY,
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
    clearInterval(sampler);
    loopDelay.disable();
    await probe;
    await api.close();
    await app.close();
    console.log(`etcd: ${placed} placements committed in ${secs.toFixed(1)} s = ${Math.round(placed / secs)} placements/s (${txns} txns, ${conflicts} conflicts; chunks of ${CHUNK}, ${CONCURRENCY} txns in flight)`);
    console.log(`etcd: event-loop delay while scheduling: p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`);
    (globalThis as { gc?: () => void }).gc?.();
    console.log(`etcd: rss peak ${mb(maxRss)} during the passes, ${mb(process.memoryUsage().rss)} (heap ${mb(process.memoryUsage().heapUsed)}) after, with ${NODES} nodes and ${total} tasks cached`);
    console.log(`etcd: while scheduling, through the API server: p99 GET ${p99(gets).toFixed(1)} ms (max ${Math.max(...gets).toFixed(1)}), p99 merge PATCH ${p99(puts).toFixed(1)} ms (max ${Math.max(...puts).toFixed(1)}); ${gets.length} samples each, ${bad.length} non-2xx ${bad.slice(0, 3).join(', ')}`);
    ac.abort();
    await Promise.all([...runs, sched, securityRun]);
  } finally {
    ac.abort();
    await store.close();
    await etcd.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

await inMemory();
(globalThis as { gc?: () => void }).gc?.();
if (!process.argv.includes('--no-etcd')) await withEtcd();
