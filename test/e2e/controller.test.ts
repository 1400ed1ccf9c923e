/**
 * The control plane end to end: real etcd (test harness or the controller's embedded one)
 * and the real `dist/shoal-controller.js` process.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { etcdPkiFiles } from '../../pkg/controller/index.js';
import { EtcdStore } from '../../pkg/store/index.js';
import { etcdAvailable, startEtcd, type TestEtcd } from './harness/etcd.js';
import { adminEnv, CONTROLLER_JS, CTL_JS, ensureBuilt, freeLoopbackPort, startController, stopController, until, type ControllerProc } from './harness/index.js';

const CTL = CTL_JS;
const hasEtcd = etcdAvailable();
if (!hasEtcd) console.warn('controller e2e skipped: the `etcd` binary is not installed (apt-get install etcd-server)');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasEtcd)('shoal-controller process', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(() => ensureBuilt());
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('rejects bad flags with exit code 2 and a message naming the flag', () => {
    const r = spawnSync(process.execPath, [CONTROLLER_JS, '--cluster-cidr', '10.0.0.0/99'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cluster-cidr');
  });

  it('runs an embedded etcd under its data dir, keeps data across SIGKILL, and stops etcd on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-ctl-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const c1 = await startController({ dataDir });
    cleanups.push(() => stopController(c1));
    const endpointFile = join(dataDir, 'etcd', 'endpoint');
    const endpoint = await until('embedded etcd endpoint', async () => (await readFile(endpointFile, 'utf8')).trim() || undefined);
    const etcdPid = await until('embedded etcd pid', async () => Number((await readFile(join(dataDir, 'etcd', 'etcd.pid'), 'utf8')).trim()) || undefined);
    const pki = etcdPkiFiles(join(dataDir, 'etcd'));
    const tls = { ca: await readFile(pki.ca, 'utf8'), cert: await readFile(pki.clientCert, 'utf8'), key: await readFile(pki.clientKey, 'utf8') };
    const store = new EtcdStore({ endpoints: [endpoint], tls });
    cleanups.push(() => store.close());
    const kv = await until('embedded etcd to take writes', () => store.put('/shoal/v1/e2e/marker', '{"a":1}'));
    // Issue 13: without the client certificate a local process reads nothing; with it, the
    // dump holds the cluster's PKI record but never the CA's private key in the clear.
    const etcdctl = (extra: string[]): ReturnType<typeof spawnSync> =>
      spawnSync('etcdctl', ['--endpoints', endpoint, '--command-timeout=3s', ...extra, 'get', '--prefix', '/'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
    expect(etcdctl(['--insecure-skip-tls-verify']).status).not.toBe(0);
    const dump = etcdctl(['--cacert', pki.ca, '--cert', pki.clientCert, '--key', pki.clientKey]);
    expect(dump.status, String(dump.stderr)).toBe(0);
    expect(String(dump.stdout)).toContain('/shoal/v1/cluster/pki');
    expect(String(dump.stdout)).not.toContain('PRIVATE KEY');

    // SIGKILL leaves etcd orphaned; the next controller must reap it and reuse the data dir and port.
    await stopController(c1, 'SIGKILL');
    const c2 = await startController({ dataDir });
    cleanups.push(() => stopController(c2));
    await until('orphaned etcd reaped', () => Promise.resolve(!alive(etcdPid)));
    expect((await readFile(endpointFile, 'utf8')).trim()).toBe(endpoint);
    const again = await until('data after restart', () => store.get('/shoal/v1/e2e/marker'));
    expect(again).toEqual(kv);

    const pid2 = await until('new etcd pid', async () => {
      const p = Number((await readFile(join(dataDir, 'etcd', 'etcd.pid'), 'utf8')).trim());
      return p !== etcdPid && alive(p) ? p : undefined;
    });
    expect(await stopController(c2)).toBe(0);
    expect(alive(pid2)).toBe(false);
  });
});

describe.skipIf(!hasEtcd)('shoal-controller on an external etcd', () => {
  let etcd: TestEtcd;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    ensureBuilt();
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('uses --etcd instead of starting its own and exits 0 on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-ctl-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const c = await startController({ dataDir, etcd: etcd.endpoints });
    cleanups.push(() => stopController(c));
    await until('controller to connect', async () => (await readFile(c.logPath, 'utf8')).includes('using etcd'));
    await expect(readFile(join(dataDir, 'etcd', 'endpoint'), 'utf8')).rejects.toThrow();
    expect(await stopController(c)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------
// The cluster API end to end: a test client registers nodes and plays their agents.

interface Obj {
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number };
  spec: Record<string, unknown> & { nodeName?: string; desiredState?: string; slot?: number; serviceName?: string; replicas?: number };
  status: Record<string, unknown> & { state?: string; readyReplicas?: number };
}

/** A client that fails over between controllers (as agents and shoalctl would across an HA set). */
class Api {
  constructor(public urls: string[]) {}
  async call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
    let last: unknown;
    for (const url of this.urls) {
      try {
        const res = await fetch(url + path, {
          method,
          headers: body === undefined ? {} : { 'content-type': contentType },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(5000),
        });
        const text = await res.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // plain text (healthz)
        }
        return { status: res.status, body: parsed };
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no controller answered ${method} ${path}: ${String(last)}`);
  }
  async ok(method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
    const r = await this.call(method, path, body, contentType);
    if (r.status >= 300) throw new Error(`${method} ${path} -> ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }
  async tasks(service?: string): Promise<Obj[]> {
    const list = (await this.ok('GET', '/apis/shoal/v1/namespaces/default/tasks')) as { items: Obj[] };
    return list.items.filter((t) => service === undefined || t.spec.serviceName === service);
  }
}

const TERMINAL = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned']);

/** Fake agents: heartbeat their node and move its tasks along (assigned → running, shutdown wanted → shutdown). */
class FakeAgents {
  private readonly beating = new Set<string>();
  private readonly registered: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Nodes carry the label test=<tag>; services of the test are constrained to it. */
  constructor(
    private readonly api: Api,
    private readonly tag: string,
  ) {}

  async register(name: string): Promise<void> {
    this.registered.push(name);
    await this.api.ok('POST', '/apis/shoal/v1/nodes', {
      apiVersion: 'shoal/v1',
      kind: 'Node',
      metadata: { name },
      spec: { availability: 'active', labels: { test: this.tag } },
      status: { state: 'ready', capacity: { cpu: '4', memory: '8Gi', pods: 110 }, allocatable: { cpu: '4', memory: '8Gi', pods: 110 } },
    });
    await this.api.ok('POST', `/apis/shoal/v1/nodes/${name}/heartbeat`);
    this.beating.add(name);
  }

  stop(name: string): void {
    this.beating.delete(name);
  }

  resume(name: string): void {
    this.beating.add(name);
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void this.tick()
        .catch(() => undefined)
        .finally(() => {
          this.busy = false;
        });
    }, 250);
  }

  /** Stops and deletes the nodes, so later tests never place tasks on them. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.beating.clear();
    for (const n of this.registered) await this.api.call('DELETE', `/apis/shoal/v1/nodes/${n}`).catch(() => undefined);
  }

  private async tick(): Promise<void> {
    for (const name of this.beating) await this.api.call('POST', `/apis/shoal/v1/nodes/${name}/heartbeat`);
    const tasks = await this.api.tasks();
    for (const t of tasks) {
      const node = t.spec.nodeName;
      if (node === undefined || !this.beating.has(node) || TERMINAL.has(t.status.state ?? '')) continue;
      const next = t.spec.desiredState === 'shutdown' ? 'shutdown' : t.status.state === 'assigned' ? 'running' : undefined;
      if (next === undefined) continue;
      await this.api.call('PATCH', `/apis/shoal/v1/namespaces/default/tasks/${t.metadata.name}/status`, { status: { state: next } }, 'application/merge-patch+json');
    }
  }
}

function service(name: string, replicas: number, tag: string): unknown {
  return {
    apiVersion: 'shoal/v1',
    kind: 'Service',
    metadata: { name },
    spec: { replicas, placement: { constraints: [`node.labels.test==${tag}`] }, template: { spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '100m', memory: '16Mi' } } }] } } },
  };
}

const running = (ts: Obj[]): Obj[] => ts.filter((t) => t.status.state === 'running' && t.spec.desiredState === 'running');

describe.skipIf(!hasEtcd)('control plane over the API', () => {
  let etcd: TestEtcd;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  beforeAll(async () => {
    ensureBuilt();
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  async function controller(dataDir: string, port?: number): Promise<ControllerProc> {
    const c = await startController({ dataDir, etcd: etcd.endpoints, ...(port !== undefined ? { port } : {}) });
    cleanups.push(() => stopController(c));
    await until(`controller ${c.url} ready`, async () => (await fetch(`${c.url}/readyz`)).status === 200);
    return c;
  }

  async function setup(tag: string, nodes: string[]): Promise<{ api: Api; agents: FakeAgents; dataDir: string; ns: string }> {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-ctl-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const c = await controller(dataDir);
    const api = new Api([c.url]);
    const agents = new FakeAgents(api, tag);
    cleanups.push(() => agents.close());
    for (const n of nodes) await agents.register(n);
    agents.start();
    return { api, agents, dataDir, ns: 'default' };
  }

  it('apply, scale up and down, delete', async () => {
    const tag = Math.random().toString(36).slice(2, 7);
    const { api } = await setup(tag, [`a-${tag}-1`, `a-${tag}-2`]);
    const name = `web-${tag}`;
    const base = `/apis/shoal/v1/namespaces/default/services/${name}`;
    const created = await api.ok('POST', '/apis/shoal/v1/namespaces/default/services', service(name, 3, tag));
    expect(created.metadata.resourceVersion).toMatch(/^\d+$/);
    await until('3 running', async () => running(await api.tasks(name)).length === 3);

    await api.ok('PATCH', base, { spec: { replicas: 5 } }, 'application/merge-patch+json');
    const five = await until('5 running', async () => {
      const r = running(await api.tasks(name));
      return r.length === 5 ? r : undefined;
    });
    expect(new Set(five.map((t) => t.spec.nodeName)).size).toBe(2);

    await api.ok('PUT', `${base}/scale`, { apiVersion: 'shoal/v1', kind: 'Scale', metadata: { name, namespace: 'default' }, spec: { replicas: 2 } });
    const two = await until('2 running, the rest shut down', async () => {
      const ts = await api.tasks(name);
      const r = running(ts);
      return r.length === 2 && ts.filter((t) => t.spec.desiredState === 'running').length === 2 ? r : undefined;
    });
    expect(two.map((t) => t.spec.slot).sort()).toEqual([1, 2]);
    const svc = await until('status.readyReplicas 2', async () => {
      const s = (await api.ok('GET', base)) as Obj;
      return s.status.readyReplicas === 2 ? s : undefined;
    });
    expect(svc.spec.replicas).toBe(2);

    await api.ok('DELETE', base);
    expect((await api.call('GET', base)).status).toBe(404);
    await until('tasks removed', async () => (await api.tasks(name)).length === 0, 30_000);
  });

  it('shoalctl apply (create, unchanged, update), get -o json, scale and delete', async () => {
    const tag = Math.random().toString(36).slice(2, 7);
    const { api, dataDir } = await setup(tag, [`s-${tag}-1`, `s-${tag}-2`]);
    const server = api.urls[0] as string;
    const ctl = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
      const r = spawnSync(process.execPath, [CTL, '--server', server, ...args], { encoding: 'utf8', env: { ...process.env, HOME: dataDir, SHOAL_SERVER: server, ...adminEnv() }, timeout: 30_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const name = `cli-${tag}`;
    const manifest = (replicas: number): string =>
      [
        'apiVersion: shoal/v1',
        'kind: Service',
        'metadata:',
        `  name: ${name}`,
        'spec:',
        `  replicas: ${replicas}`,
        '  placement:',
        `    constraints: ["node.labels.test==${tag}"]`,
        '  template:',
        '    spec:',
        '      containers:',
        '        - name: main',
        '          image: busybox',
        '',
      ].join('\n');
    const file = join(dataDir, 'svc.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, manifest(2));
    let r = ctl('apply', '-f', file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created/);
    r = ctl('apply', '-f', file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unchanged/);
    await until('2 running', async () => running(await api.tasks(name)).length === 2);

    await writeFile(file, manifest(3));
    r = ctl('apply', '-f', file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/configured|updated/);
    await until('3 running', async () => running(await api.tasks(name)).length === 3);

    r = ctl('scale', `service/${name}`, '--replicas', '1');
    expect(r.status, r.stderr).toBe(0);
    await until('1 running', async () => {
      const ts = await api.tasks(name);
      return running(ts).length === 1 && ts.filter((t) => t.spec.desiredState === 'running').length === 1;
    });
    r = ctl('get', 'services', name, '-o', 'json');
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Obj).spec.replicas).toBe(1);

    r = ctl('delete', 'service', name);
    expect(r.status, r.stderr).toBe(0);
    expect((await api.call('GET', `/apis/shoal/v1/namespaces/default/services/${name}`)).status).toBe(404);
    r = ctl('get', 'services', name);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not ?found/i);
  });

  it('a node that stops heartbeating goes down within the timeout and its tasks are replaced', async () => {
    const tag = Math.random().toString(36).slice(2, 7);
    const [n1, n2] = [`b-${tag}-1`, `b-${tag}-2`];
    const { api, agents } = await setup(tag, [n1, n2]);
    const name = `api-${tag}`;
    await api.ok('POST', '/apis/shoal/v1/namespaces/default/services', service(name, 4, tag));
    const before = await until('4 running on both nodes', async () => {
      const r = running(await api.tasks(name));
      return r.length === 4 && new Set(r.map((t) => t.spec.nodeName)).size === 2 ? r : undefined;
    });
    const onN1 = before.filter((t) => t.spec.nodeName === n1).map((t) => t.metadata.name);

    agents.stop(n1);
    const stoppedAt = Date.now();
    await until(`${n1} down`, async () => ((await api.ok('GET', `/apis/shoal/v1/nodes/${n1}`)) as Obj).status.state === 'down', 15_000);
    const downAfter = Date.now() - stoppedAt;
    // --node-timeout 2s: the lease TTL is 2 s; etcd checks expiry every 500 ms; allow for the loop.
    expect(downAfter).toBeLessThan(6000);
    const after = await until('4 running on n2, old ones orphaned', async () => {
      const ts = await api.tasks(name);
      const r = running(ts);
      const orphaned = ts.filter((t) => onN1.includes(t.metadata.name) && t.status.state === 'orphaned');
      return r.length === 4 && r.every((t) => t.spec.nodeName === n2) && orphaned.length === onN1.length ? r : undefined;
    });
    expect(after.map((t) => t.spec.slot).sort()).toEqual([1, 2, 3, 4]);
    expect((await api.ok('GET', `/apis/shoal/v1/nodes/${n2}`)).status.state).toBe('ready');

    // The node's agent comes back: the node is ready again; nothing moves back to it by itself.
    await api.ok('POST', `/apis/shoal/v1/nodes/${n1}/heartbeat`);
    agents.resume(n1);
    await until(`${n1} ready again`, async () => ((await api.ok('GET', `/apis/shoal/v1/nodes/${n1}`)) as Obj).status.state === 'ready', 15_000);
    expect(running(await api.tasks(name)).map((t) => t.metadata.name).sort()).toEqual(after.map((t) => t.metadata.name).sort());
    await api.ok('DELETE', `/apis/shoal/v1/namespaces/default/services/${name}`);
  });

  it('a controller killed with SIGKILL and restarted loses nothing and restarts no task', async () => {
    const tag = Math.random().toString(36).slice(2, 7);
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-ctl-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await freeLoopbackPort();
    const c1 = await controller(dataDir, port);
    const api = new Api([c1.url]);
    const agents = new FakeAgents(api, tag);
    cleanups.push(() => agents.close());
    await agents.register(`c-${tag}-1`);
    await agents.register(`c-${tag}-2`);
    agents.start();
    const name = `db-${tag}`;
    await api.ok('POST', '/apis/shoal/v1/namespaces/default/services', service(name, 3, tag));
    await until('3 running', async () => running(await api.tasks(name)).length === 3);
    await until('status settled', async () => ((await api.ok('GET', `/apis/shoal/v1/namespaces/default/services/${name}`)) as Obj).status.readyReplicas === 3);
    await new Promise((r) => setTimeout(r, 500));
    const snapshot = async (): Promise<Record<string, string>> => {
      const out: Record<string, string> = {};
      const s = (await api.ok('GET', `/apis/shoal/v1/namespaces/default/services/${name}`)) as Obj;
      out[`service/${name}`] = `${s.metadata.uid}@${s.metadata.resourceVersion}`;
      for (const t of await api.tasks(name)) out[`task/${t.metadata.name}`] = `${t.spec.nodeName}:${t.status.state}@${t.metadata.resourceVersion}`;
      return out;
    };
    const before = await snapshot();

    await stopController(c1, 'SIGKILL');
    const c2 = await controller(dataDir, port);
    expect(c2.url).toBe(c1.url);
    await until('c2 leads', async () => (await api.ok('GET', '/apis/shoal/v1/cluster/info')).controller.isLeader === true, 15_000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await snapshot()).toEqual(before);
    await api.ok('DELETE', `/apis/shoal/v1/namespaces/default/services/${name}`);
  });

  it('two controllers elect one leader; killing it hands over within seconds without restarting any task', async () => {
    const tag = Math.random().toString(36).slice(2, 7);
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-ctl-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const a = await controller(join(dataDir, 'a'));
    const b = await controller(join(dataDir, 'b'));
    const info = async (c: ControllerProc): Promise<{ controller: { id: string; isLeader: boolean }; leader?: string }> =>
      (await new Api([c.url]).ok('GET', '/apis/shoal/v1/cluster/info')) as { controller: { id: string; isLeader: boolean }; leader?: string };
    const [ia, ib] = await until('one leader', async () => {
      const [x, y] = [await info(a), await info(b)];
      return x.controller.isLeader !== y.controller.isLeader && x.leader !== undefined && x.leader === y.leader ? [x, y] : undefined;
    });
    const [leader, follower] = ia.controller.isLeader ? [a, b] : [b, a];
    expect((ia.controller.isLeader ? ia : ib).controller.id).toBe(ia.leader);

    // Agents and the client talk to the follower first, so heartbeats go on while the leader dies.
    const api = new Api([follower.url, leader.url]);
    const agents = new FakeAgents(api, tag);
    cleanups.push(() => agents.close());
    await agents.register(`d-${tag}-1`);
    await agents.register(`d-${tag}-2`);
    agents.start();
    const name = `ha-${tag}`;
    await api.ok('POST', '/apis/shoal/v1/namespaces/default/services', service(name, 4, tag));
    const before = await until('4 running', async () => {
      const r = running(await api.tasks(name));
      return r.length === 4 ? r : undefined;
    });
    const key = (ts: Obj[]): string[] => ts.map((t) => `${t.metadata.name}@${t.spec.nodeName}`).sort();
    const detail = (ts: Obj[]): string[] => ts.map((t) => `${t.metadata.name}@${t.spec.nodeName}:${t.spec.desiredState}/${t.status.state}`).sort();
    const allBefore = detail(await api.tasks(name));

    await stopController(leader, 'SIGKILL');
    const killedAt = Date.now();
    await until('the follower leads', async () => (await info(follower)).controller.isLeader, 15_000);
    // Leader lease 2 s (+ campaign and the kill itself).
    expect(Date.now() - killedAt).toBeLessThan(8000);
    await new Promise((r) => setTimeout(r, 3000));
    const all = await api.tasks(name);
    expect(key(running(all))).toEqual(key(before));
    expect(detail(all)).toEqual(allBefore);
    await api.ok('DELETE', `/apis/shoal/v1/namespaces/default/services/${name}`);
  });
});

describe.skipIf(!hasEtcd)('shoal-controller when etcd goes away', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('answers 503 with Retry-After while etcd is down and recovers when it is back, without a restart', async () => {
    ensureBuilt();
    const etcd = await startEtcd();
    cleanups.push(() => etcd.stop());
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-ctl-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const c = await startController({ dataDir, etcd: etcd.endpoints });
    cleanups.push(() => stopController(c));
    await until('ready', async () => (await fetch(`${c.url}/readyz`)).status === 200);
    const list = `${c.url}/apis/shoal/v1/namespaces/default/services`;
    expect((await fetch(list)).status).toBe(200);

    await etcd.kill();
    const res = await until('503', async () => {
      const r = await fetch(list, { signal: AbortSignal.timeout(20_000) });
      return r.status === 503 ? r : undefined;
    });
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await res.json()) as { reason: string }).reason).toBe('ServiceUnavailable');
    expect((await fetch(`${c.url}/readyz`, { signal: AbortSignal.timeout(20_000) })).status).toBe(503);

    await etcd.start();
    await until('200 again', async () => (await fetch(list, { signal: AbortSignal.timeout(20_000) })).status === 200, 30_000);
    expect(c.child.exitCode).toBeNull();

    // Shutdown must not hang on an unreachable etcd (resign, lease revoke and close give up).
    await etcd.kill();
    const t0 = Date.now();
    expect(await stopController(c, 'SIGTERM', 30_000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
