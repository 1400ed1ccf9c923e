/**
 * Logs and exec through the controller with real processes' parts: the controller's
 * `buildApiServer` on a MemoryStore listening on a random loopback port, the agent's tunnel
 * loop (`startTunnel`) for two nodes, and a fake engine on a temp UNIX socket. The client is
 * shoalctl's ApiClient.
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { isShoalError, type Task, type TaskLogEntry as LogEntry } from '../../api/index.js';
import { FakeEngine, startTunnel, type AgentTunnel } from '../../agent/index.js';
import { ApiClient } from '../../client/index.js';
import { MemoryStore } from '../../store/index.js';
import { ControllerMetrics } from '../metrics.js';
import { Registry } from '../registry/index.js';
import { buildApiServer } from './server.js';
import { TunnelHub } from './tunnel.js';
import { compareTasks } from './tunnel-client-routes.js';
import { withTask } from './tunnel-relay.js';

const NS = '/apis/shoal/v1/namespaces/default';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function task(name: string, slot: number | undefined, node: string | undefined, containerId: string | undefined, state: Task['status']['state'] = 'running'): Task {
  return {
    apiVersion: 'shoal/v1',
    kind: 'Task',
    metadata: { name, namespace: 'default', labels: { 'shoal.io/service': 'web' } },
    spec: {
      serviceName: 'web',
      serviceGeneration: 1,
      ...(slot !== undefined ? { slot } : {}),
      ...(node !== undefined ? { nodeName: node } : {}),
      desiredState: 'running',
      template: { spec: { containers: [{ name: 'main', image: 'busybox' }] } },
    },
    status: { state, ...(containerId !== undefined ? { containerId } : {}) },
  };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** How vi.waitFor polls in these tests. */
const poll = { timeout: 5000, interval: 20 };

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

let store: MemoryStore;
let registry: Registry;
let hub: TunnelHub;
let app: FastifyInstance;
let server: string;
let engine: FakeEngine;
let tunnels: AgentTunnel[];
/** Container id → task key, as the containers' `shoal.task` labels would say. */
let labels: Map<string, string>;

function agentFor(node: string): AgentTunnel {
  const t = startTunnel({
    controller: server,
    nodeName: node,
    engineSocket: engine.socketPath,
    log: quiet,
    isTaskContainer: (id, key) => labels.get(id) === key,
    backoffMinMs: 20,
    backoffMaxMs: 100,
  });
  tunnels.push(t);
  return t;
}

beforeEach(async () => {
  store = new MemoryStore();
  registry = new Registry(store);
  hub = new TunnelHub({ answerTimeoutMs: 2000, startupGraceMs: 0 });
  app = buildApiServer({ security: 'off', store, registry, metrics: new ControllerMetrics(), tunnels: hub });
  server = await app.listen({ host: '127.0.0.1', port: 0 });
  engine = await FakeEngine.start();
  tunnels = [];
  labels = new Map();
  for (const n of ['node-a', 'node-b', 'node-c']) {
    await registry.nodes.create(undefined, { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name: n }, spec: {}, status: { state: 'ready' } });
  }
  await registry.services.create('default', {
    apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'web' },
    spec: { replicas: 3, template: { spec: { containers: [{ name: 'main', image: 'busybox' }] } } },
  });
});

afterEach(async () => {
  await Promise.all(tunnels.map((t) => t.close()));
  await app.close();
  await engine.close();
  await store.close();
});

/** A running task with a container on `node`, its lines in the fake engine. */
async function runTask(name: string, slot: number, node: string, container: string, lines: string[]): Promise<void> {
  engine.add(container, lines);
  labels.set(container, `default/${name}`);
  await registry.tasks.create('default', task(name, slot, node, container));
}

describe('logs and exec through the controller (controller + agent tunnel + fake engine)', () => {
  it('streams the logs of one task from its node, with tail and stderr entries', async () => {
    agentFor('node-a');
    await vi.waitFor(() => expect(hub.isConnected('node-a'), 'node-a connected').toBe(true), poll);
    await runTask('web.1.aaaaa', 1, 'node-a', 'c1', ['one', 'err:two', 'three']);
    const c = new ApiClient(server);
    const all = await collect(c.taskLogs('default', 'web.1.aaaaa'));
    expect(all.map((e) => [e.stream, e.log])).toEqual([['stdout', 'one\n'], ['stderr', 'two\n'], ['stdout', 'three\n']]);
    const tail = await collect(c.taskLogs('default', 'web.1.aaaaa', { tailLines: 1 }));
    expect(tail.map((e) => e.log)).toEqual(['three\n']);
    expect(engine.seen).toContain('GET /v1/containers/c1/logs?tail=1');
    await vi.waitFor(() => expect(hub.openStreams('node-a'), 'streams released').toBe(0), poll);
  });

  it('shows every replica of a service in slot order, each line with its task, and one error line for an unreachable node', async () => {
    agentFor('node-a');
    agentFor('node-b');
    await vi.waitFor(() => expect(hub.isConnected('node-a') && hub.isConnected('node-b'), 'both nodes connected').toBe(true), poll);
    await runTask('web.2.bbbbb', 2, 'node-b', 'c2', ['b1', 'b2']);
    await runTask('web.1.aaaaa', 1, 'node-a', 'c1', ['a1']);
    await registry.tasks.create('default', task('web.3.ccccc', 3, 'node-c', 'c3')); // node-c has no tunnel
    await registry.tasks.create('default', task('web.4.ddddd', 4, undefined, undefined, 'pending')); // no container: skipped
    await registry.tasks.create('default', task('web.1.old00', 1, 'node-a', 'gone', 'failed')); // history: skipped
    const entries = await collect(new ApiClient(server).serviceLogs('default', 'web'));
    expect(entries.map((e) => [e.task, e.log ?? e.error?.reason])).toEqual([
      ['web.1.aaaaa', 'a1\n'],
      ['web.2.bbbbb', 'b1\n'],
      ['web.2.bbbbb', 'b2\n'],
      ['web.3.ccccc', 'ServiceUnavailable'],
    ]);
    expect(entries[3]?.error?.message).toMatch(/node node-c is not connected to this controller/);
  });

  it('follows a service: lines merge as they come, a new task is attached, and leaving aborts every engine stream', async () => {
    agentFor('node-a');
    agentFor('node-b');
    await vi.waitFor(() => expect(hub.isConnected('node-a') && hub.isConnected('node-b'), 'both nodes connected').toBe(true), poll);
    await runTask('web.1.aaaaa', 1, 'node-a', 'c1', ['a1']);
    await runTask('web.2.bbbbb', 2, 'node-b', 'c2', []);
    const ac = new AbortController();
    const seen: LogEntry[] = [];
    const reading = (async () => {
      for await (const e of new ApiClient(server).serviceLogs('default', 'web', { follow: true }, ac.signal)) seen.push(e);
    })();
    await vi.waitFor(() => expect(seen.some((e) => e.log === 'a1\n'), 'a1').toBe(true), poll);
    await vi.waitFor(() => expect(engine.containers.get('c2')?.followers.size, 'both followers at the engine').toBe(1), poll);
    engine.push('c2', 'b-live');
    engine.push('c1', 'a-live');
    await vi.waitFor(() => expect(seen.some((e) => e.log === 'b-live\n') && seen.some((e) => e.log === 'a-live\n'), 'live lines').toBe(true), poll);
    // A replica that gets its container while we follow is attached.
    await runTask('web.3.ccccc', 3, 'node-b', 'c3', ['c-first']);
    await vi.waitFor(() => expect(seen.find((e) => e.task === 'web.3.ccccc' && e.log === 'c-first\n'), 'the new task').toBeDefined(), poll);
    expect(seen.find((e) => e.log === 'b-live\n')?.task).toBe('web.2.bbbbb');
    expect(engine.open).toBe(3);
    ac.abort();
    await reading;
    await vi.waitFor(() => expect(engine.open, 'engine streams aborted').toBe(0), poll);
    expect(engine.aborted).toBe(3);
    await vi.waitFor(() => expect(hub.openStreams('node-a') + hub.openStreams('node-b'), 'hub streams released').toBe(0), poll);
  });

  it('follows a service of many replicas without listener warnings', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      agentFor('node-a');
      await vi.waitFor(() => expect(hub.isConnected('node-a'), 'node-a connected').toBe(true), poll);
      for (let i = 1; i <= 20; i++) await runTask(`web.${i}.t${String(i).padStart(4, '0')}`, i, 'node-a', `c${i}`, [`line ${i}`]);
      const ac = new AbortController();
      const seen = new Set<string>();
      const reading = (async () => {
        for await (const e of new ApiClient(server).serviceLogs('default', 'web', { follow: true }, ac.signal)) if (e.task) seen.add(e.task);
      })();
      await vi.waitFor(() => expect(seen.size, 'every replica').toBe(20), poll);
      ac.abort();
      await reading;
      await vi.waitFor(() => expect(engine.open, 'engine streams aborted').toBe(0), poll);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => /MaxListeners|memory leak/i.test(w))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a quiet followed log still opens, and its first line arrives later', async () => {
    agentFor('node-a');
    await vi.waitFor(() => expect(hub.isConnected('node-a'), 'node-a connected').toBe(true), poll);
    await runTask('web.1.aaaaa', 1, 'node-a', 'c1', []);
    const ac = new AbortController();
    const it = new ApiClient(server).taskLogs('default', 'web.1.aaaaa', { follow: true }, ac.signal)[Symbol.asyncIterator]();
    const next = it.next();
    await vi.waitFor(() => expect(engine.containers.get('c1')?.followers.size, 'the follower').toBe(1), poll);
    await new Promise((r) => setTimeout(r, 400)); // past the agent's status grace
    engine.push('c1', 'late');
    expect((await next).value).toMatchObject({ stream: 'stdout', log: 'late\n' });
    ac.abort();
    await it.return?.(undefined);
    await vi.waitFor(() => expect(engine.open, 'engine stream aborted').toBe(0), poll);
  });

  it('runs exec with and without stdin and passes the exit code', async () => {
    agentFor('node-a');
    await vi.waitFor(() => expect(hub.isConnected('node-a'), 'node-a connected').toBe(true), poll);
    await runTask('web.1.aaaaa', 1, 'node-a', 'c1', []);
    const c = new ApiClient(server);
    const echo = await collect(c.execTask('default', 'web.1.aaaaa', { cmd: ['echo', 'hi', 'there'] }));
    expect(echo).toEqual([{ stream: 'stdout', data: Buffer.from('hi there\n').toString('base64') }, { exitCode: 0 }]);
    const fail = await collect(c.execTask('default', 'web.1.aaaaa', { cmd: ['fail', '7'] }));
    expect(fail.at(-1)).toEqual({ exitCode: 7 });
    expect(fail[0]?.stream).toBe('stderr');

    // stdin: sent in two pieces with a pause, echoed back, EOF ends the command.
    const stdin = new PassThrough();
    const frames: string[] = [];
    let exit: number | undefined;
    const run = (async () => {
      for await (const f of c.execTask('default', 'web.1.aaaaa', { cmd: ['cat'] }, stdin)) {
        if (f.data) frames.push(Buffer.from(f.data, 'base64').toString());
        if (f.exitCode !== undefined) exit = f.exitCode;
      }
    })();
    stdin.write('hello ');
    await vi.waitFor(() => expect(frames.join(''), 'first piece echoed').toBe('hello '), poll);
    stdin.end('world\n');
    await run;
    expect(frames.join('')).toBe('hello world\n');
    expect(exit).toBe(0);
    await vi.waitFor(() => expect([hub.openStreams('node-a'), engine.open], 'streams released').toEqual([0, 0]), poll);

    // stdin that never sends anything and never ends: the command still runs and the exec ends.
    const idle = new PassThrough();
    const quietRun = await collect(c.execTask('default', 'web.1.aaaaa', { cmd: ['echo', 'no', 'input'] }, idle));
    expect(quietRun.at(-1)).toEqual({ exitCode: 0 });
    idle.destroy();
    await vi.waitFor(() => expect([hub.openStreams('node-a'), engine.open], 'streams released').toEqual([0, 0]), poll);
  });

  it('refuses a container that is not the task’s, and passes the engine’s own errors on', async () => {
    agentFor('node-a');
    await vi.waitFor(() => expect(hub.isConnected('node-a'), 'node-a connected').toBe(true), poll);
    engine.add('c9');
    labels.set('c9', 'default/someone-else');
    await registry.tasks.create('default', task('web.1.aaaaa', 1, 'node-a', 'c9'));
    const c = new ApiClient(server);
    const err = await rejection(collect(c.taskLogs('default', 'web.1.aaaaa')));
    expect(isShoalError(err, 'NotFound')).toBe(true);
    expect((err as Error).message).toMatch(/container c9 of task default\/web.1.aaaaa is not on node node-a/);
    expect(engine.seen).toEqual([]); // never reached the engine

    // Labelled right but unknown to the engine: the engine's 404 comes through.
    labels.set('c8', 'default/web.2.bbbbb');
    await registry.tasks.create('default', task('web.2.bbbbb', 2, 'node-a', 'c8'));
    const err2 = await rejection(collect(c.execTask('default', 'web.2.bbbbb', { cmd: ['echo'] })));
    expect(isShoalError(err2, 'NotFound')).toBe(true);
    expect((err2 as Error).message).toMatch(/no such container: c8/);
  });

  it('keeps serving after the agent reconnects', async () => {
    const first = agentFor('node-a');
    await vi.waitFor(() => expect(hub.isConnected('node-a'), 'node-a connected').toBe(true), poll);
    await runTask('web.1.aaaaa', 1, 'node-a', 'c1', ['x']);
    await first.close();
    await vi.waitFor(() => expect(hub.isConnected('node-a'), 'node-a gone').toBe(false), poll);
    const err = await rejection(collect(new ApiClient(server).taskLogs('default', 'web.1.aaaaa')));
    expect(isShoalError(err, 'Unavailable')).toBe(true);
    agentFor('node-a');
    await vi.waitFor(() => expect(hub.isConnected('node-a'), 'node-a back').toBe(true), poll);
    expect((await collect(new ApiClient(server).taskLogs('default', 'web.1.aaaaa'))).map((e) => e.log)).toEqual(['x\n']);
  });
});

describe('client errors (no agent needed)', () => {
  it('answers bad requests with clear statuses', async () => {
    await registry.tasks.create('default', task('web.1.aaaaa', 1, undefined, undefined, 'pending'));
    await registry.tasks.create('default', task('web.2.bbbbb', 2, 'node-c', 'c2'));
    const get = (url: string) => app.inject({ method: 'GET', url });
    let r = await get(`${NS}/tasks/nope/log`);
    expect(r.statusCode).toBe(404);
    r = await get(`${NS}/tasks/web.1.aaaaa/log`);
    expect(r.statusCode).toBe(409);
    expect(r.json().message).toBe('task web.1.aaaaa has no container yet (state: pending)');
    r = await get(`${NS}/tasks/web.2.bbbbb/log`);
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.json().message).toMatch(/node node-c is not connected to this controller/);
    r = await get(`${NS}/tasks/web.2.bbbbb/log?tailLines=-3`);
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/tailLines/);
    r = await get(`${NS}/tasks/web.2.bbbbb/log?follow=maybe`);
    expect(r.statusCode).toBe(400);
    r = await get(`${NS}/tasks/web.2.bbbbb/log?sinceTime=yesterday`);
    expect(r.statusCode).toBe(400);
    r = await get(`${NS}/services/nope/log`);
    expect(r.statusCode).toBe(404);
    r = await get('/apis/shoal/v1/nodes/not-registered/tunnel');
    expect(r.statusCode).toBe(404);

    const exec = (query: string, payload?: Record<string, unknown>) => app.inject({ method: 'POST', url: `${NS}/tasks/web.2.bbbbb/exec${query}`, ...(payload !== undefined ? { payload } : {}) });
    r = await exec('');
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/an exec needs a command/);
    r = await exec('?spec=%%%');
    expect(r.statusCode).toBe(400);
    r = await exec(`?spec=${Buffer.from(JSON.stringify({ cmd: [], user: 3 })).toString('base64')}`);
    expect(r.statusCode).toBe(422);
    expect(r.json().details.causes.map((c: { field: string }) => c.field)).toEqual(['cmd', 'user']);
    r = await exec('', { cmd: ['echo'] }); // a JSON body works too; the node is not connected
    expect(r.statusCode).toBe(503);

    r = await app.inject({ method: 'POST', url: '/apis/shoal/v1/nodes/node-a/tunnel/unknown', headers: { 'content-type': 'application/vnd.shoal.stream' }, payload: '' });
    expect(r.statusCode).toBe(404);
    r = await app.inject({ method: 'POST', url: '/apis/shoal/v1/nodes/node-a/tunnel/x', headers: { 'content-type': 'application/vnd.shoal.stream', 'x-shoal-tunnel-status': 'abc' }, payload: '' });
    expect(r.statusCode).toBe(400);
  });
});

describe('helpers', () => {
  it('withTask adds the task in front without reparsing', () => {
    expect(JSON.parse(withTask('web.1.a', '{"stream":"stdout","log":"x\\n"}'))).toEqual({ task: 'web.1.a', stream: 'stdout', log: 'x\n' });
    expect(JSON.parse(withTask('web.1.a', '{}'))).toEqual({ task: 'web.1.a' });
    expect(JSON.parse(withTask('t', 'garbage'))).toMatchObject({ task: 't', error: { reason: 'BadGateway' } });
  });

  it('orders tasks by slot, then node, then name', () => {
    const ts = [task('w.3.x', 3, 'a', 'c'), task('w.g.y', undefined, 'b', 'c'), task('w.1.z', 1, 'a', 'c'), task('w.g.x', undefined, 'a', 'c')];
    expect(ts.sort(compareTasks).map((t) => t.metadata.name)).toEqual(['w.1.z', 'w.3.x', 'w.g.x', 'w.g.y']);
  });
});
