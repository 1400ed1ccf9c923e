import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { MemoryStore } from '../../store/index.js';
import { buildApiServer, ControllerMetrics, Registry } from '../../controller/index.js';
import { captureStream, runCtl, type CtlRun } from '../test-helpers.js';

let store: MemoryStore;
let app: FastifyInstance;
let server: string;
let home: string;
let registry: Registry;

beforeEach(async () => {
  store = new MemoryStore();
  registry = new Registry(store);
  app = buildApiServer({ security: 'off', store, registry, metrics: new ControllerMetrics(), leaderInfo: () => ({ id: 'ctl-1', isLeader: true, leader: 'ctl-1' }) });
  server = await app.listen({ host: '127.0.0.1', port: 0 });
  home = await mkdtemp(join(tmpdir(), 'shoalctl-'));
});
afterEach(async () => {
  await app.close();
  await store.close();
  await rm(home, { recursive: true, force: true });
});

function run(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<CtlRun> {
  return runCtl(args, { env: opts.env ?? { SHOAL_SERVER: server }, home, ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) });
}

const WEB = `apiVersion: shoal/v1
kind: Service
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: web, image: nginx:1.25}]
---
apiVersion: shoal/v1
kind: Service
metadata: {name: db}
spec:
  replicas: 1
  template:
    spec:
      containers: [{name: db, image: postgres}]
`;

describe('apply', () => {
  it('creates, reports unchanged, then configured', async () => {
    await writeFile(join(home, 'app.yaml'), WEB);
    let r = await run(['apply', '-f', 'app.yaml']);
    expect(r).toMatchObject({ code: 0, out: 'service/web created\nservice/db created\n' });
    r = await run(['apply', '-f', 'app.yaml']);
    expect(r.out).toBe('service/web unchanged\nservice/db unchanged\n');
    await writeFile(join(home, 'app.yaml'), WEB.replace('replicas: 2', 'replicas: 5'));
    r = await run(['apply', '-f', join(home, 'app.yaml')]);
    expect(r.out).toBe('service/web configured\nservice/db unchanged\n');
    expect((await registry.services.get('default', 'web')).spec.replicas).toBe(5);
  });
  it('reads a directory and stdin; prints field errors and exits non-zero', async () => {
    await mkdir(join(home, 'dir'));
    await writeFile(join(home, 'dir', 'a.yaml'), WEB.split('---')[0] ?? '');
    await writeFile(join(home, 'dir', 'b.json'), JSON.stringify({ apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'Bad' }, spec: { replicas: -1, template: { spec: { containers: [{ name: 'x', image: 'x' }] } } } }));
    await writeFile(join(home, 'dir', 'ignored.txt'), 'nope');
    let r = await run(['apply', '-f', 'dir']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('service/web created\n');
    expect(r.err).toContain('error: dir/b.json: Invalid:');
    expect(r.err).toContain('  metadata.name: ');
    expect(r.err).toContain('  spec.replicas: ');
    r = await run(['apply', '-f', '-'], { stdin: WEB.split('---')[1] ?? '' });
    expect(r).toMatchObject({ code: 0, out: 'service/db created\n' });
  });
  it('fails clearly without a server', async () => {
    const r = await run(['get', 'services'], { env: {} });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no controller given/);
    const r2 = await run(['get', 'services'], { env: { SHOAL_SERVER: 'http://127.0.0.1:1' } });
    expect(r2.err).toMatch(/error: Unavailable: cannot reach the controller/);
  });
});

describe('get, describe, scale, delete', () => {
  beforeEach(async () => {
    await writeFile(join(home, 'app.yaml'), WEB);
    await run(['apply', '-f', 'app.yaml']);
    await registry.nodes.create(undefined, {
      apiVersion: 'shoal/v1', kind: 'Node', metadata: { name: 'n1' }, spec: { availability: 'active' },
      status: { state: 'ready', capacity: { cpu: '2', memory: '4Gi', pods: 110 }, allocatable: { cpu: '1500m', memory: '3Gi', pods: 100 } },
    });
    await registry.tasks.create('default', {
      apiVersion: 'shoal/v1', kind: 'Task', metadata: { name: 'web.1.abc' },
      spec: { serviceName: 'web', serviceGeneration: 1, slot: 1, nodeName: 'n1', desiredState: 'running', template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
      status: { state: 'running', ip: '10.244.1.5', message: 'started' },
    });
  });
  it('tables', async () => {
    let r = await run(['get', 'services']);
    expect(r.out.split('\n')[0]).toMatch(/^NAME\s+MODE\s+REPLICAS\s+IMAGE\s+AGE$/);
    expect(r.out).toMatch(/web\s+replicated\s+0\/2\s+nginx:1\.25\s+\d+s/);
    r = await run(['get', 'tasks']);
    expect(r.out).toMatch(/^NAME\s+STATE\s+NODE\s+IP\s+AGE\s+MESSAGE\nweb\.1\.abc\s+running\s+n1\s+10\.244\.1\.5\s+\d+s\s+started\n$/);
    r = await run(['get', 'nodes']);
    expect(r.out).toMatch(/NAME\s+STATUS\s+AVAILABILITY\s+CPU\s+MEMORY\s+TASKS\s+AGE\nn1\s+ready\s+active\s+1500m\s+3Gi\s+1\s+\d+s/);
    r = await run(['get', 'svc', '-l', 'app=web', '-o', 'wide']);
    expect(r.out).toContain('PORTS');
    expect(r.out).not.toContain('db');
    r = await run(['get', 'services', '-A']);
    expect(r.out.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME/);
    r = await run(['get', 'services', '-n', 'empty']);
    expect(r.err).toContain('No resources found in empty namespace.');
  });
  it('json and yaml', async () => {
    let r = await run(['get', 'services', '-o', 'json']);
    const list = JSON.parse(r.out);
    expect(list).toMatchObject({ apiVersion: 'shoal/v1', kind: 'ServiceList' });
    expect(list.items).toHaveLength(2);
    r = await run(['get', 'service', 'web', '-o', 'yaml']);
    expect(r.out).toContain('kind: Service');
    expect(r.out).toContain('name: web');
    r = await run(['get', 'service', 'nope']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error: NotFound: services "nope" not found/);
    r = await run(['get', 'widgets']);
    expect(r.err).toMatch(/unknown resource type "widgets"/);
    r = await run(['get', 'services', '-o', 'xml']);
    expect(r.err).toMatch(/unknown output format/);
  });
  it('watch prints changes until interrupted', async () => {
    const ac = new AbortController();
    const out = captureStream();
    const done = runCtl(['get', 'services', '-w'], { env: { SHOAL_SERVER: server }, home, signal: ac.signal, stdout: out });
    const poll = { timeout: 2000, interval: 10 };
    await vi.waitFor(() => expect(out.text()).toMatch(/db/), poll);
    await registry.updateScale('default', 'web', { spec: { replicas: 4 } });
    await vi.waitFor(() => expect(out.text()).toMatch(/0\/4/), poll);
    await registry.services.delete('default', 'db');
    await vi.waitFor(() => expect(out.text()).toMatch(/\(deleted\)/), poll);
    ac.abort();
    expect((await done).code).toBe(0);
    expect(out.text()).toMatch(/web\s+replicated\s+0\/4/);
    expect(out.text()).toMatch(/db\s+.*\(deleted\)/);
  });
  it('describe', async () => {
    let r = await run(['describe', 'service', 'web']);
    expect(r.out).toMatch(/Name:\s+web/);
    expect(r.out).toMatch(/Replicas:\s+2 desired/);
    expect(r.out).toMatch(/Tasks:\n\s+NAME\s+STATE.*\n\s+web\.1\.abc\s+running/);
    r = await run(['describe', 'node', 'n1']);
    expect(r.out).toMatch(/Allocatable:\s+cpu=1500m, memory=3Gi, pods=100/);
    expect(r.out).toContain('web.1.abc');
    r = await run(['describe', 'task', 'web.1.abc']);
    expect(r.out).toMatch(/IP:\s+10\.244\.1\.5/);
  });
  it('scale, node drain/pause/activate, cluster info, delete', async () => {
    let r = await run(['scale', 'service/web', '--replicas', '7']);
    expect(r).toMatchObject({ code: 0, out: 'service/web scaled\n' });
    expect((await registry.services.get('default', 'web')).spec.replicas).toBe(7);
    r = await run(['scale', 'service/web', '--replicas', '-1']);
    expect(r.code).toBe(1);
    r = await run(['node', 'drain', 'n1']);
    expect(r.out).toBe('node/n1 drained\n');
    expect((await registry.nodes.get(undefined, 'n1')).spec.availability).toBe('drain');
    await run(['node', 'pause', 'n1']);
    expect((await registry.nodes.get(undefined, 'n1')).spec.availability).toBe('pause');
    await run(['node', 'activate', 'n1']);
    expect((await registry.nodes.get(undefined, 'n1')).spec.availability).toBe('active');
    r = await run(['cluster', 'info']);
    expect(r.out).toContain(`Server:       ${server}`);
    expect(r.out).toMatch(/Leader:\s+ctl-1/);
    expect(r.out).toMatch(/Nodes:\s+1 \(1 ready\)/);
    r = await run(['delete', '-f', 'app.yaml']);
    expect(r.out).toBe('service/web deleted\nservice/db deleted\n');
    r = await run(['delete', 'service', 'web']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('NotFound');
    r = await run(['delete', 'service', 'web', '--ignore-not-found']);
    expect(r.code).toBe(0);
    r = await run(['delete', 'task/web.1.abc']);
    expect(r.out).toBe('task/web.1.abc deleted\n');
  });
});

describe('config', () => {
  it('contexts select the server; --server and SHOAL_SERVER win', async () => {
    let r = await run(['config', 'set-context', 'local', '--server', server], { env: {} });
    expect(r.out).toBe('context "local" created\n');
    await run(['config', 'set-context', 'other', '--server', 'http://127.0.0.1:1'], { env: {} });
    expect(await readFile(join(home, '.shoal', 'config'), 'utf8')).toContain('currentContext: local');
    r = await run(['cluster', 'info'], { env: {} });
    expect(r.out).toContain(server);
    await run(['config', 'use-context', 'other'], { env: {} });
    r = await run(['cluster', 'info'], { env: {} });
    expect(r.err).toContain('Unavailable');
    r = await run(['--server', server, 'cluster', 'info'], { env: {} });
    expect(r.code).toBe(0);
    r = await run(['cluster', 'info'], { env: { SHOAL_SERVER: server } });
    expect(r.code).toBe(0);
    r = await run(['config', 'use-context', 'missing'], { env: {} });
    expect(r.code).toBe(1);
    r = await run(['config', 'get-contexts'], { env: {} });
    expect(r.out).toMatch(/\*\s+other/);
  });
});
