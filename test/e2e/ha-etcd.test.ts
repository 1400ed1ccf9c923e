/**
 * A controller on a 3-member etcd cluster (root: a real agent runs the service's containers).
 *
 * - The etcd leader is SIGKILLed while a writer creates objects through the API: the API
 *   serves writes again within a few seconds, no request hangs, and every write the API
 *   acknowledged is there at the end.
 * - Two members are SIGKILLed: every request (writes, reads, lists, readiness) answers 503
 *   with Retry-After within a second, and the agent keeps its containers running. The
 *   members come back: writes succeed again, the controller leads again, and the service's
 *   tasks and containers (ids, StartedAt) are the ones from before, with none replaced.
 *
 * The figures (time to serve again, time to the first 503, slowest 503) are printed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, etcdAvailable, freeLoopbackPort, stopProc, TempDirs, until, type Proc } from './harness/index.js';
import { startEtcdCluster, type TestEtcd, type TestEtcdCluster } from './harness/etcd.js';
import { Api, HostAgent, sleepService, startController, type ServiceContainer } from './ha-helpers.js';

const isRoot = process.getuid?.() === 0;
const canRun = isRoot && etcdAvailable() && existsSync('/bin/busybox');
if (!canRun) console.warn(`HA etcd e2e skipped: ${!isRoot ? 'needs root' : !etcdAvailable() ? 'etcd is not installed' : 'needs /bin/busybox'}`);

const WRITES_NS = 'ha-writes';
const NODE_TIMEOUT_MS = 5000;

interface Outcome {
  kind: string;
  start: number;
  end: number;
  status: number;
  retryAfter: string | null;
  name?: string;
}

/** Sends requests one after another until stopped, recording each; `kinds` cycle. */
class Load {
  readonly done: Outcome[] = [];
  private stopped = false;
  private n = 0;
  private loop: Promise<void> | undefined;

  constructor(private readonly api: Api, private readonly kinds: readonly string[]) {}

  start(): void {
    this.loop = (async () => {
      for (let i = 0; !this.stopped; i++) {
        await this.once(this.kinds[i % this.kinds.length] as string);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  acked(): string[] {
    return this.done.filter((o) => o.kind === 'create' && o.status === 201).map((o) => o.name as string);
  }

  after(t: number): Outcome[] {
    return this.done.filter((o) => o.start >= t);
  }

  private async once(kind: string): Promise<void> {
    const start = Date.now();
    let status = 0;
    let retryAfter: string | null = null;
    let name: string | undefined;
    try {
      let r: Response;
      if (kind === 'create') {
        name = `w-${process.pid}-${this.n++}`;
        r = await this.api.req('POST', `/apis/shoal/v1/namespaces/${WRITES_NS}/services`, { ...(sleepService(name, 'e2e/none:1', 0) as object) });
      } else if (kind === 'list') r = await this.api.req('GET', `/apis/shoal/v1/namespaces/${WRITES_NS}/services`);
      else if (kind === 'get') r = await this.api.req('GET', '/apis/shoal/v1/namespaces/default/services/web');
      else if (kind === 'tasks') r = await this.api.req('GET', '/apis/shoal/v1/tasks');
      else r = await this.api.req('GET', '/readyz');
      status = r.status;
      retryAfter = r.headers.get('retry-after');
      await r.arrayBuffer();
    } catch {
      status = -1; // no answer in 15 s, or the connection failed
    }
    this.done.push({ kind, start, end: Date.now(), status, retryAfter, ...(name !== undefined ? { name } : {}) });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!canRun)('a controller on a 3-member etcd cluster', () => {
  const tmp = new TempDirs();
  let cluster: TestEtcdCluster | undefined;
  let controller: Proc | undefined;
  let agent: HostAgent | undefined;
  let api: Api;
  let before: ServiceContainer[] = [];
  let beforeTasks: string[] = [];
  const acked: string[] = [];
  const figures: Record<string, number> = {};

  beforeAll(async () => {
    ensureBuilt();
    const base = await tmp.make('shoal-ha-etcd-');
    cluster = await startEtcdCluster(3);
    const port = await freeLoopbackPort();
    api = new Api(`https://127.0.0.1:${port}`);
    controller = await startController(port, ['--data-dir', join(base, 'controller'), '--etcd', cluster.endpoints.join(','), '--node-timeout', `${NODE_TIMEOUT_MS}ms`]);
    agent = new HostAgent(join(base, 'agent'), `e2e-ha-${process.pid}`, api.server, `shoal-e2e-ha-${process.pid}`);
    await agent.start();
    await agent.importBusybox('e2e/ha-busybox:1');
    await api.json('POST', '/apis/shoal/v1/namespaces/default/services', sleepService('web', 'e2e/ha-busybox:1', 2));
    const tasks = await until('2 running tasks', () => api.runningTasks('web', 2), 60_000, 250);
    beforeTasks = tasks.map((t) => `${t.metadata.name}=${t.status.containerId ?? ''}`);
    before = await agent.containers('web');
    expect(before.map((c) => c.id).sort()).toEqual(tasks.map((t) => t.status.containerId).sort());
  }, 120_000);

  afterAll(async () => {
    console.log(`HA etcd figures: ${JSON.stringify(figures)}`);
    await agent?.removeAll();
    await agent?.stop();
    await stopProc(controller);
    await cluster?.stop();
    await agent?.removeCgroups();
    await tmp.cleanup();
  }, 60_000);

  const member = (i: number): TestEtcd => (cluster as TestEtcdCluster).members[i] as TestEtcd;

  it('loses no acknowledged write when the etcd leader is SIGKILLed, and writes again within seconds', async () => {
    const c = cluster as TestEtcdCluster;
    const load = new Load(api, ['create']);
    load.start();
    await until('writes acknowledged', async () => load.acked().length >= 10, 20_000);
    const leader = await c.leader();
    const killedAt = Date.now();
    await member(leader).kill();
    const firstOk = await until('a write acknowledged after the kill', async () => load.after(killedAt).find((o) => o.status === 201), 20_000, 50);
    await sleep(2000);
    await load.stop();
    acked.push(...load.acked());

    figures['serveAgainAfterLeaderDeathMs'] = firstOk.end - killedAt;
    const afterKill = load.after(killedAt);
    figures['slowestRequestAfterLeaderDeathMs'] = Math.max(...afterKill.map((o) => o.end - o.start));
    expect(firstOk.end - killedAt).toBeLessThan(5000);
    // Nothing hung meanwhile: every answer was a success or a 503 with Retry-After, quickly.
    for (const o of afterKill) {
      expect(o.end - o.start).toBeLessThan(3000);
      if (o.status !== 201) expect([o.status, o.retryAfter]).toEqual([503, '1']);
    }
    await member(leader).start();
    await c.waitHealthy();

    const list = await api.json<{ items: { metadata: { name: string } }[] }>('GET', `/apis/shoal/v1/namespaces/${WRITES_NS}/services`);
    const present = new Set(list.items.map((s) => s.metadata.name));
    const lost = acked.filter((n) => !present.has(n));
    figures['acknowledgedWrites'] = acked.length;
    figures['acknowledgedWritesLost'] = lost.length;
    expect(lost).toEqual([]);
  }, 90_000);

  it('answers every request 503 with Retry-After within a second while two members are down; containers keep running; all resumes', async () => {
    const c = cluster as TestEtcdCluster;
    const leader = await c.leader();
    const victims = [leader, [0, 1, 2].find((i) => i !== leader) as number];
    const load = new Load(api, ['create', 'list', 'get', 'tasks', 'readyz']);
    load.start();
    await sleep(500);
    const killedAt = Date.now();
    await Promise.all(victims.map((i) => member(i).kill()));
    await sleep(6000);
    const during = await agent?.containers('web');
    await load.stop();
    acked.push(...load.acked());

    const afterKill = load.after(killedAt);
    expect(afterKill.length).toBeGreaterThan(20);
    const slowest = Math.max(...afterKill.map((o) => o.end - o.start));
    const first503 = afterKill.find((o) => o.status === 503);
    figures['first503AfterQuorumLossMs'] = first503 === undefined ? -1 : first503.end - killedAt;
    figures['slowest503Ms'] = slowest;
    figures['requestsDuringQuorumLoss'] = afterKill.length;
    for (const o of afterKill) expect({ kind: o.kind, status: o.status, retryAfter: o.retryAfter }).toEqual({ kind: o.kind, status: 503, retryAfter: '1' });
    expect(slowest).toBeLessThan(1000);
    // The agent kept its containers (the API's 503s stop nothing).
    expect(during).toEqual(before);

    // The members come back: writes succeed again, the controller leads again.
    const back = new Load(api, ['create']);
    back.start();
    const backAt = Date.now();
    await Promise.all(victims.map((i) => member(i).start()));
    const firstOk = await until('a write acknowledged after the members are back', async () => back.after(backAt).find((o) => o.status === 201), 30_000, 50);
    figures['serveAgainAfterQuorumBackMs'] = firstOk.end - backAt;
    await back.stop();
    acked.push(...back.acked());
    await c.waitHealthy();
    await until('a controller leading again', async () => (await api.json<{ leader?: string }>('GET', '/apis/shoal/v1/cluster/info')).leader !== undefined, 30_000, 250);

    // Past a node timeout and two heartbeats, nothing moved: same tasks, same containers.
    await sleep(NODE_TIMEOUT_MS + 3000);
    const tasks = await api.runningTasks('web', 2);
    expect(tasks?.map((t) => `${t.metadata.name}=${t.status.containerId ?? ''}`)).toEqual(beforeTasks);
    expect((await api.tasks('web')).length).toBe(2);
    expect(await agent?.containers('web')).toEqual(before);
    const node = await api.json<{ status: { state: string } }>('GET', `/apis/shoal/v1/nodes/e2e-ha-${process.pid}`);
    expect(node.status.state).toBe('ready');

    const list = await api.json<{ items: { metadata: { name: string } }[] }>('GET', `/apis/shoal/v1/namespaces/${WRITES_NS}/services`);
    const present = new Set(list.items.map((s) => s.metadata.name));
    const lost = acked.filter((n) => !present.has(n));
    figures['acknowledgedWrites'] = acked.length;
    figures['acknowledgedWritesLost'] = lost.length;
    expect(lost).toEqual([]);
  }, 120_000);
});
