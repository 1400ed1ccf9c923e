/**
 * Secure by default (issue 13), end to end on two network-namespace hosts with real agents and
 * a controller: no credentials get 401, roles get 403 for what they may not do, a node's
 * certificate opens only its own Node, tasks and tunnel, a join token pins the CA and a
 * rotated one no longer joins, and admission keeps host features to admins and the cluster's
 * ports to nobody.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError, type Task } from '../../pkg/api/index.js';
import { ApiClient, type ClientCredentials } from '../../pkg/client/index.js';
import { EtcdStore } from '../../pkg/store/index.js';
import { AGENT_JS, clusterSkipReason, joinToken, run, startCluster, trustedAdmin, until, type ClusterHost, type TestCluster } from './harness/index.js';

const skip = clusterSkipReason();
const NS = '/apis/shoal/v1/namespaces/default';

let c: TestCluster | undefined;
let dir = '';

function cluster(): TestCluster {
  if (!c) throw new Error('no cluster');
  return c;
}

/** The status code of a request without any credentials (TLS still checks the server). */
async function anonymous(method: string, path: string): Promise<number> {
  const { Agent, fetch } = await import('undici');
  const r = await fetch(`${cluster().server}${path}`, { method, dispatcher: new Agent({ connect: { ca: trustedAdmin().ca } }), signal: AbortSignal.timeout(5000) });
  await r.text();
  return r.status;
}

function nodeCredentials(h: ClusterHost): ClientCredentials {
  const pki = join(h.dataDir, 'pki');
  return { ca: readFileSync(join(pki, 'ca.crt'), 'utf8'), cert: readFileSync(join(pki, 'node.crt'), 'utf8'), key: readFileSync(join(pki, 'node.key'), 'utf8') };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isShoalError(err)) return (err as ShoalError).code;
    throw err;
  }
}

async function apply(name: string, yaml: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const path = join(dir, `${name}.yaml`);
  await writeFile(path, yaml.join('\n'));
  const r = await run(process.execPath, [join(process.cwd(), 'dist/shoalctl.js'), '--server', cluster().server, 'apply', '-f', path, '--wait', '--timeout', '60s'], {
    env: { ...process.env, SHOAL_CONFIG: trustedAdmin().configPath, ...env }, timeoutMs: 90_000,
  });
  return { code: r.code ?? -1, out: `${r.stdout}${r.stderr}` };
}

function serviceYaml(name: string, extra: string[] = [], tspec: string[] = []): string[] {
  return [
    'apiVersion: shoal/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', '  replicas: 2', ...extra,
    '  placement:', '    maxReplicasPerNode: 1', '  template:', '    spec:', ...tspec, '      containers:', '        - name: main', `          image: ${cluster().image}`,
    '          command: ["sleep", "1000"]', '          init: true', '          stopGracePeriodSeconds: 1',
  ];
}

describe.skipIf(skip !== undefined)('secure by default', () => {
  let viewerToken = '';
  let deployerToken = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-e2e-sec-'));
    c = await startCluster({ tag: 'sec', nodeTimeoutMs: 5000, hosts: 2 });
    const admin = new ApiClient(cluster().server, undefined, undefined, trustedAdmin());
    viewerToken = (await admin.call<{ token: string }>('POST', '/apis/shoal/v1/cluster/tokens', { role: 'viewer' })).token;
    deployerToken = (await admin.call<{ token: string }>('POST', '/apis/shoal/v1/cluster/tokens', { role: 'deployer' })).token;
    const r = await apply('web', serviceYaml('web'));
    expect(r.code, r.out).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await c?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 401 without credentials on every route but /healthz, /readyz and /version', async () => {
    for (const p of ['/healthz', '/readyz', '/version']) expect(await anonymous('GET', p), p).toBe(200);
    const closed: [string, string][] = [
      ['GET', `${NS}/services`], ['GET', '/apis/shoal/v1/tasks'], ['GET', '/apis/shoal/v1/nodes'], ['GET', '/apis/shoal/v1/nodes/h1/tunnel'],
      ['POST', '/apis/shoal/v1/nodes/h1/heartbeat'], ['POST', '/apis/shoal/v1/nodes'], ['GET', '/apis/shoal/v1/cluster/info'], ['GET', '/apis/shoal/v1/cluster/backup'],
      ['GET', '/metrics'], ['POST', `${NS}/tasks/x/exec`], ['GET', `${NS}/services/web/log`],
    ];
    for (const [m, p] of closed) expect(await anonymous(m, p), `${m} ${p}`).toBe(401);
  });

  it('a viewer token can get but not apply, read logs or exec', async () => {
    const env = { SHOAL_TOKEN: viewerToken };
    const get = await run(process.execPath, [join(process.cwd(), 'dist/shoalctl.js'), '--server', cluster().server, 'get', 'services'], {
      env: { ...process.env, SHOAL_CONFIG: trustedAdmin().configPath, ...env },
    });
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toContain('web');
    const a = await apply('web2', serviceYaml('web2'), env);
    expect(a.code).not.toBe(0);
    expect(a.out).toMatch(/role viewer.*may not create services/);
    const viewer = new ApiClient(cluster().server, undefined, undefined, { ca: trustedAdmin().ca, token: viewerToken });
    const task = (await cluster().tasks('web')).find((t) => t.status.state === 'running') as Task;
    expect(await code(viewer.call('POST', `${NS}/tasks/${task.metadata.name}/exec?spec=${encodeURIComponent(JSON.stringify({ cmd: ['true'] }))}`))).toBe('PermissionDenied');
    expect(await code(viewer.call('GET', `${NS}/services/web/log`))).toBe('PermissionDenied');
  });

  it("a node's certificate opens only its own Node, tasks and tunnel; logs and exec still work for users", async () => {
    const h1 = cluster().host('h1');
    const n1 = new ApiClient(cluster().server, undefined, undefined, nodeCredentials(h1));
    expect(await code(n1.call('GET', '/apis/shoal/v1/tasks?fieldSelector=spec.nodeName%3Dh1'))).toBe('ok');
    expect(await code(n1.call('GET', '/apis/shoal/v1/tasks?fieldSelector=spec.nodeName%3Dh2'))).toBe('PermissionDenied');
    expect(await code(n1.call('POST', '/apis/shoal/v1/nodes/h2/heartbeat'))).toBe('PermissionDenied');
    expect(await code(n1.call('GET', '/apis/shoal/v1/nodes/h2/tunnel'))).toBe('PermissionDenied');
    const newNode = { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name: 'evil' }, spec: {}, status: { state: 'ready', capacity: { cpu: '64', memory: '1Ti', pods: 1000 } } };
    expect(await code(n1.call('POST', '/apis/shoal/v1/nodes', newNode))).toBe('PermissionDenied');
    const onH2 = (await cluster().tasks('web')).find((t) => t.spec.nodeName === 'h2' && t.status.state === 'running') as Task;
    expect(onH2, 'a replica on h2').toBeDefined();
    expect(await code(n1.call('GET', `${NS}/tasks/${onH2.metadata.name}`))).toBe('PermissionDenied');
    expect(await code(n1.call('PUT', `${NS}/tasks/${onH2.metadata.name}/status`, { metadata: { name: onH2.metadata.name }, status: { ...onH2.status, state: 'failed' } }))).toBe('PermissionDenied');
    expect(await code(n1.call('GET', `${NS}/services`))).toBe('PermissionDenied');
    // Users' logs and exec go through the nodes' tunnels as before.
    const ex = await cluster().ctl(['exec', `task/${onH2.metadata.name}`, '--', 'hostname']);
    expect(ex.code, ex.stderr).toBe(0);
    const logs = await cluster().ctl(['logs', 'service/web']);
    expect(logs.code, logs.stderr).toBe(0);
  });

  it('a join token with a wrong CA fingerprint is refused by the agent before it sends anything; a rotated token no longer joins', async () => {
    const token = await joinToken(cluster().server);
    const wrong = token.replace(/^SHOAL-1-(.)/, (_m, ch: string) => `SHOAL-1-${ch === '0' ? '1' : '0'}`);
    const agentArgs = (name: string, t: string): string[] => [
      AGENT_JS, '--controller', cluster().server, '--join-token', t, '--node-name', name, '--bridge', 'none',
      '--socket', join(dir, name, 'agent.sock'), '--data-dir', join(dir, name, 'data'), '--run-dir', join(dir, name, 'run'), '--cgroup-parent', `shoal-e2e-sec-${name}`,
    ];
    const bad = await run(process.execPath, agentArgs('stranger', wrong), { timeoutMs: 30_000 });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/not joining/);
    const nodes = await cluster().nodes();
    expect(nodes.map((n) => n.metadata.name)).not.toContain('stranger');
    // Nothing reached the join endpoint: no certificate record was made for the name.
    const store = new EtcdStore({ endpoints: cluster().etcd.endpoints });
    try {
      expect(await store.get('/shoal/v1/nodecerts/stranger')).toBeUndefined();
      expect(await store.get('/shoal/v1/nodecerts/h1')).toBeDefined();
    } finally {
      await store.close();
    }
    const admin = new ApiClient(cluster().server, undefined, undefined, trustedAdmin());
    const rotated = (await admin.call<{ token: string }>('POST', '/apis/shoal/v1/cluster/join-tokens/worker/rotate')).token;
    expect(rotated).not.toBe(token);
    const old = await run(process.execPath, agentArgs('late', token), { timeoutMs: 30_000 });
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/join token is not valid/);
  });

  it('secrets: sealed in etcd, never on the node\'s disk, on tmpfs with mode 0400 in the task; configs where asked; an update rolls the consumers one at a time', async () => {
    const value = `pa55-${Date.now()}-word`;
    const ctlOk = async (args: string[]): Promise<string> => {
      const r = await cluster().ctl(args);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await ctlOk(['create', 'secret', 'db-pass', '--from-literal', value]);
    await ctlOk(['create', 'config', 'app-conf', '--from-literal', 'mode=prod']);
    const r = await apply('sec', serviceYaml('sec', [], [
      '      secrets:', '        - source: db-pass', '      configs:', '        - {source: app-conf, target: /etc/app.conf}',
    ]));
    expect(r.code, `${r.out}\n${r.code === 0 ? '' : await cluster().diagnostics('sec')}`).toBe(0);
    const running = async (): Promise<Task[]> => (await cluster().tasks('sec')).filter((t) => t.spec.desiredState === 'running' && t.status.state === 'running');
    const inTask = async (t: Task, cmd: string): Promise<string> => ctlOk(['exec', `task/${t.metadata.name}`, '--', 'sh', '-c', cmd]);
    for (const t of await running()) {
      expect(await inTask(t, 'cat /run/secrets/db-pass')).toBe(value);
      expect((await inTask(t, 'busybox stat -c %a /run/secrets/db-pass')).trim()).toBe('400');
      expect(await inTask(t, 'grep " /run/secrets/db-pass " /proc/mounts')).toMatch(/ tmpfs ro[,\s]/);
      expect(await inTask(t, 'cat /etc/app.conf')).toBe('mode=prod');
    }
    // Nowhere in etcd in the clear, nor on any node's disk.
    const store = new EtcdStore({ endpoints: cluster().etcd.endpoints });
    try {
      const dump = (await store.list('/')).items.map((kv) => `${kv.key}=${kv.value}`).join('\n');
      expect(dump).toContain('/shoal/v1/secrets/default/db-pass');
      expect(dump).not.toContain(value);
      expect(dump).not.toContain(Buffer.from(value).toString('base64'));
    } finally {
      await store.close();
    }
    for (const h of cluster().hosts) {
      const g = await run('grep', ['-rlF', value, h.dataDir]);
      expect(g.stdout, `${h.node}'s data dir`).toBe('');
    }
    const viewer = new ApiClient(cluster().server, undefined, undefined, { ca: trustedAdmin().ca, token: viewerToken });
    expect(JSON.stringify(await viewer.call('GET', `${NS}/secrets/db-pass`))).not.toContain(Buffer.from(value).toString('base64'));
    // An update rolls the service: never both replicas down, every replica ends with the new value.
    const before = new Set((await running()).map((t) => t.metadata.name));
    let minRunning = 2;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        minRunning = Math.min(minRunning, (await running()).length);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    let after: Task[];
    try {
      await ctlOk(['create', 'secret', 'db-pass', '--from-literal', `${value}-2`]);
      after = await until('both replicas replaced', async () => {
        const ts = await running();
        return ts.length === 2 && ts.every((t) => !before.has(t.metadata.name)) ? ts : undefined;
      }, 60_000, 200).catch(async (err: unknown) => {
        throw new Error(`${String(err)}\n${(await cluster().ctl(['get', 'service', 'sec', '-o', 'yaml'])).stdout}\n${(await cluster().ctl(['get', 'secrets'])).stdout}\n${await cluster().diagnostics('sec')}`);
      });
    } finally {
      polling = false;
      await poll;
    }
    for (const t of after) expect(await inTask(t, 'cat /run/secrets/db-pass')).toBe(`${value}-2`);
    expect(minRunning, 'replicas running during the roll').toBeGreaterThanOrEqual(1);
    // In use: not deletable; once the service is gone, it is.
    expect((await cluster().ctl(['delete', 'secret', 'db-pass'])).code).not.toBe(0);
    await ctlOk(['delete', 'service', 'sec']);
    await ctlOk(['delete', 'secret', 'db-pass']);
  });

  it('host networking or the API port from a deployer is refused with 403 or 422 and the field', async () => {
    const env = { SHOAL_TOKEN: deployerToken };
    const host = await apply('hostnet', serviceYaml('hostnet', [], ['      network: host']), env);
    expect(host.code).not.toBe(0);
    expect(host.out).toMatch(/role deployer may not create a service that reaches the host: spec\.template\.spec\.network/);
    const port = await apply('apiport', serviceYaml('apiport', ['  ports:', `    - {port: ${new URL(cluster().server).port}, targetPort: 80}`]), env);
    expect(port.code).not.toBe(0);
    expect(port.out).toMatch(/spec\.ports\[0\]\.port.*the controller's API/s);
    const ok = await apply('plain', serviceYaml('plain'), env);
    expect(ok.code, ok.out).toBe(0);
    await until('plain deleted', async () => (await cluster().ctl(['delete', 'service', 'plain'])).code === 0);
  });
});
