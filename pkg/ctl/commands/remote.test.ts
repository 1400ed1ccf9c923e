import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { FakeEngine, startTunnel, type AgentTunnel } from '../../agent/index.js';
import { buildApiServer, ControllerMetrics, Registry, TunnelHub } from '../../controller/index.js';
import { MemoryStore } from '../../store/index.js';
import { captureStream, runCtl, type CtlRun } from '../test-helpers.js';
import { parseRemoteRef, ServiceLogPrinter } from './remote.js';

describe('parseRemoteRef', () => {
  it('takes service/ and task/ (and their plurals), leaves container names alone', () => {
    expect(parseRemoteRef('service/web')).toEqual({ kind: 'service', name: 'web' });
    expect(parseRemoteRef('svc/web')).toEqual({ kind: 'service', name: 'web' });
    expect(parseRemoteRef('task/web.1.abc')).toEqual({ kind: 'task', name: 'web.1.abc' });
    expect(parseRemoteRef('web')).toBeUndefined();
    expect(parseRemoteRef('3f2a9c')).toBeUndefined();
    expect(parseRemoteRef('registry/x')).toBeUndefined();
    expect(() => parseRemoteRef('task/')).toThrow(/want task\/NAME/);
    expect(() => parseRemoteRef('service/a/b')).toThrow(/want service\/NAME/);
  });
});

describe('ServiceLogPrinter', () => {
  it('prefixes every line with its task, stderr to stderr; plain in pipes', () => {
    const out = captureStream();
    const err = captureStream();
    const p = new ServiceLogPrinter(out, err, { timestamps: false, colour: { out: false, err: false } });
    p.write({ task: 'web.1.a', stream: 'stdout', log: 'hello\n' });
    p.write({ task: 'web.10.bb', stream: 'stdout', log: 'x\n' });
    p.write({ task: 'web.1.a', stream: 'stdout', log: 'again\n' });
    expect(out.text()).toBe('web.1.a | hello\nweb.10.bb | x\nweb.1.a | again\n');
  });

  it('aligns the prefixes for people', () => {
    const out = captureStream();
    const err = captureStream();
    const p = new ServiceLogPrinter(out, err, { timestamps: false, colour: { out: false, err: false }, align: true });
    p.write({ task: 'web.1.a', stream: 'stdout', log: 'hello\n' });
    p.write({ task: 'web.10.bb', stream: 'stderr', log: 'oops\n' });
    p.write({ task: 'web.1.a', stream: 'stdout', log: 'two\nlines\n' });
    p.write({ task: 'web.1.a', stream: 'stdout', log: 'no newline' });
    p.write({ task: 'web.3.c', error: { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', code: 503, reason: 'ServiceUnavailable', message: 'node n3 is not connected to this controller' } });
    expect(out.text()).toBe('web.1.a | hello\nweb.1.a   | two\nweb.1.a   | lines\nweb.1.a   | no newline\n');
    expect(err.text()).toBe('web.10.bb | oops\nweb.3.c   | error: Unavailable: node n3 is not connected to this controller\n');
    expect(p.failed).toBe(1);
  });

  it('colours the prefix per task on a terminal only, and shows timestamps after it', () => {
    const out = captureStream(true);
    const p = new ServiceLogPrinter(out, captureStream(), { timestamps: true, colour: { out: true, err: false } });
    p.write({ task: 'a', stream: 'stdout', log: 'x\n', time: '2024-01-01T00:00:00Z' });
    p.write({ task: 'b', stream: 'stdout', log: 'y\n', time: '2024-01-01T00:00:01Z' });
    expect(out.text()).toBe('\x1b[36ma\x1b[0m | 2024-01-01T00:00:00Z x\n\x1b[33mb\x1b[0m | 2024-01-01T00:00:01Z y\n');
  });
});

describe('shoalctl logs/exec of tasks and services, through a controller and an agent tunnel', () => {
  let store: MemoryStore;
  let app: FastifyInstance;
  let server: string;
  let engine: FakeEngine;
  let tunnel: AgentTunnel;
  let hub: TunnelHub;
  let home: string;

  beforeAll(async () => {
    store = new MemoryStore();
    const registry = new Registry(store);
    hub = new TunnelHub();
    app = buildApiServer({ security: 'off', store, registry, metrics: new ControllerMetrics(), tunnels: hub });
    server = await app.listen({ host: '127.0.0.1', port: 0 });
    engine = await FakeEngine.start();
    home = await mkdtemp(join(tmpdir(), 'shoalctl-remote-'));
    await registry.nodes.create(undefined, { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name: 'n1' }, spec: {}, status: { state: 'ready' } });
    await registry.services.create('default', {
      apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'web' },
      spec: { replicas: 2, template: { spec: { containers: [{ name: 'main', image: 'busybox' }] } } },
    });
    const labels = new Map<string, string>();
    for (const [name, slot, id, lines] of [['web.1.aaaaa', 1, 'c1', ['a1', 'err:a-warn']], ['web.2.bbbbb', 2, 'c2', ['b1']]] as const) {
      engine.add(id, [...lines]);
      labels.set(id, `default/${name}`);
      await registry.tasks.create('default', {
        apiVersion: 'shoal/v1', kind: 'Task', metadata: { name, namespace: 'default' },
        spec: { serviceName: 'web', serviceGeneration: 1, slot, nodeName: 'n1', desiredState: 'running', template: { spec: { containers: [{ name: 'main', image: 'busybox' }] } } },
        status: { state: 'running', containerId: id },
      });
    }
    tunnel = startTunnel({
      controller: server, nodeName: 'n1', engineSocket: engine.socketPath,
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      isTaskContainer: (id, key) => labels.get(id) === key,
    });
    await vi.waitFor(() => expect(hub.isConnected('n1')).toBe(true), { timeout: 4000, interval: 20 });
  });
  afterAll(async () => {
    await tunnel.close();
    await app.close();
    await engine.close();
    await store.close();
    await rm(home, { recursive: true, force: true });
  });

  function run(args: string[], stdin = ''): Promise<CtlRun> {
    return runCtl(args, { env: { SHOAL_SERVER: server }, home, stdin });
  }

  it('logs service/NAME shows every replica, prefixed, stderr lines on stderr', async () => {
    const r = await run(['logs', 'service/web']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('web.1.aaaaa | a1\nweb.2.bbbbb | b1\n');
    expect(r.err).toBe('web.1.aaaaa | a-warn\n');
  });

  it('logs task/NAME with --tail and --timestamps, unprefixed', async () => {
    const r = await run(['logs', '--tail', '1', '-t', 'task/web.1.aaaaa']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z a-warn\n$/);
    const missing = await run(['logs', 'task/nope']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/error: NotFound: tasks "nope" not found/);
  });

  it('exec task/NAME passes output and the exit code; -i sends stdin', async () => {
    const r = await run(['exec', 'task/web.2.bbbbb', '--', 'fail', '7']);
    expect(r.code).toBe(7);
    expect(r.err).toBe('failing\n');
    const e = await run(['exec', 'task/web.2.bbbbb', 'echo', 'hi']);
    expect([e.code, e.out]).toEqual([0, 'hi\n']);
    const c = await run(['exec', '-i', 'task/web.2.bbbbb', '--', 'cat'], 'from stdin\n');
    expect([c.code, c.out]).toEqual([0, 'from stdin\n']);
    const svc = await run(['exec', 'service/web', '--', 'echo']);
    expect(svc.code).toBe(1);
    expect(svc.err).toMatch(/exec runs in one replica: use task\/NAME/);
  });

  it('plain container names still go to the local engine', async () => {
    const r = await run(['--host', 'unix:///nonexistent/agent.sock', 'logs', 'c1']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot connect to the Shoal engine at unix:\/\/\/nonexistent\/agent.sock/);
    const ns = await run(['logs', '--namespace', 'x', 'c1']);
    expect(ns.err).toMatch(/--namespace applies to task\/NAME and service\/NAME only/);
  });
});
