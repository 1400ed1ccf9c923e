import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TunnelRequest } from '../../api/index.js';
import { startTunnel, type AgentTunnel, type TunnelOptions } from './tunnel.js';
import { FakeEngine } from './tunnel-fake-engine.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** vi.waitFor's pacing for these tests. */
const wait = { timeout: 5000, interval: 10 };

interface Answer {
  id: string;
  status: string | undefined;
  body: string;
  ended: boolean;
  closed: boolean;
  res: ServerResponse;
}

/** A controller that only speaks the tunnel: tests write lines and read answers. */
class FakeController {
  tunnels: ServerResponse[] = [];
  answers = new Map<string, Answer>();
  /** Status of the tunnel GET (404: node not registered). */
  tunnelStatus = 200;
  /** Status of answers (404: the request is unknown here). */
  answerStatus = 200;
  gets = 0;
  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeController> {
    const h: { c?: FakeController } = {};
    const server = createServer((req, res) => h.c?.handle(req, res));
    const c = new FakeController(server);
    h.c = c;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return c;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  live(): ServerResponse | undefined {
    return this.tunnels.filter((t) => !t.destroyed && !t.writableEnded).at(-1);
  }

  send(line: object): void {
    const t = this.live();
    if (!t) throw new Error('no tunnel');
    t.write(JSON.stringify(line) + '\n');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === '/apis/shoal/v1/nodes/n1/tunnel') {
      this.gets++;
      if (this.tunnelStatus !== 200) {
        res.writeHead(this.tunnelStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: this.tunnelStatus, message: 'nodes "n1" not found' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.flushHeaders();
      this.tunnels.push(res);
      return;
    }
    const m = /^\/apis\/shoal\/v1\/nodes\/n1\/tunnel\/([^/]+)$/.exec(url);
    if (req.method === 'POST' && m) {
      const h = req.headers['x-shoal-tunnel-status'];
      const a: Answer = { id: m[1]!, status: typeof h === 'string' ? h : undefined, body: '', ended: false, closed: false, res };
      this.answers.set(a.id, a);
      req.on('data', (d: Buffer) => (a.body += d.toString()));
      req.on('end', () => {
        a.ended = true;
        res.end(); // as the controller does once the answer is relayed
      });
      req.on('close', () => (a.closed = true));
      res.writeHead(this.answerStatus, { 'content-type': 'application/vnd.shoal.stream' });
      res.flushHeaders();
      if (this.answerStatus !== 200) res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  }
}

let controller: FakeController;
let engine: FakeEngine;
let tunnel: AgentTunnel | undefined;
const labels = new Map<string, string>();

/** The answer to request `id` once it has arrived (and, with `ended`, once its body is complete). */
const answer = (id: string, opts: { ended?: boolean } = {}): Promise<Answer> =>
  vi.waitFor(() => {
    const a = controller.answers.get(id);
    expect(a, `the answer to ${id}`).toBeDefined();
    if (opts.ended) expect(a?.ended, `the answer to ${id} ended`).toBe(true);
    return a!;
  }, wait);

function start(opts: Partial<TunnelOptions> = {}): AgentTunnel {
  tunnel = startTunnel({
    controller: controller.url,
    nodeName: 'n1',
    engineSocket: engine.socketPath,
    log: quiet,
    isTaskContainer: (id, key) => labels.get(id) === key,
    backoffMinMs: 10,
    backoffMaxMs: 50,
    ...opts,
  });
  return tunnel;
}

const logsReq = (id: string, container: string, query: Record<string, string> = {}): TunnelRequest => ({ id, op: 'logs', container, task: `default/t-${container}`, query });

beforeEach(async () => {
  controller = await FakeController.start();
  engine = await FakeEngine.start();
  labels.clear();
});
afterEach(async () => {
  await tunnel?.close();
  tunnel = undefined;
  await controller.close();
  await engine.close();
});

describe('the agent tunnel against a fake controller and engine', () => {
  it('serves a logs request with the engine’s status and body', async () => {
    engine.add('c1', ['hello', 'err:oops']);
    labels.set('c1', 'default/t-c1');
    const t = start();
    await vi.waitFor(() => expect(t.connected()).toBe(true), wait);
    controller.send({ op: 'ping' });
    controller.send(logsReq('r1', 'c1'));
    const a = await answer('r1', { ended: true });
    expect(a.status).toBe('200');
    expect(a.body.trim().split('\n').map((l) => JSON.parse(l) as { stream: string; log: string })).toMatchObject([
      { stream: 'stdout', log: 'hello\n' },
      { stream: 'stderr', log: 'oops\n' },
    ]);
    await vi.waitFor(() => expect(t.activeStreams()).toBe(0), wait);
  });

  it('answers 404 for a container that is not the task’s, without asking the engine', async () => {
    engine.add('c1');
    labels.set('c1', 'default/other');
    start();
    await vi.waitFor(() => expect(tunnel!.connected()).toBe(true), wait);
    controller.send(logsReq('r1', 'c1'));
    const a = await answer('r1', { ended: true });
    expect(a.status).toBe('404');
    expect(JSON.parse(a.body)).toMatchObject({ code: 404, message: 'container c1 of task default/t-c1 is not on node n1' });
    expect(engine.seen).toEqual([]);
  });

  it('passes an engine error under its own status, and an unreachable engine as 503', async () => {
    labels.set('c404', 'default/t-c404');
    start();
    await vi.waitFor(() => expect(tunnel!.connected()).toBe(true), wait);
    controller.send(logsReq('r1', 'c404'));
    const a = await answer('r1', { ended: true });
    expect(a.status).toBe('404');
    expect(JSON.parse(a.body)).toMatchObject({ message: 'no such container: c404' });
    await tunnel!.close();

    start({ engineSocket: '/nonexistent/engine.sock' });
    await vi.waitFor(() => expect(tunnel!.connected()).toBe(true), wait);
    controller.send(logsReq('r2', 'c404'));
    const b = await answer('r2', { ended: true });
    expect(b.status).toBe('503');
    expect(JSON.parse(b.body)).toMatchObject({ code: 503, message: expect.stringMatching(/engine API of node n1 cannot be reached/) });
  });

  it('a cancel line, a refused answer or a dropped answer connection abort the engine request', async () => {
    engine.add('c1', []);
    labels.set('c1', 'default/t-c1');
    start({ statusGraceMs: 20 });
    await vi.waitFor(() => expect(tunnel!.connected()).toBe(true), wait);

    // cancel
    controller.send(logsReq('r1', 'c1', { follow: '1' }));
    await vi.waitFor(() => expect(engine.open, 'the engine follows').toBe(1), wait);
    controller.send({ op: 'cancel', id: 'r1' });
    await vi.waitFor(() => expect(engine.open, 'engine request aborted').toBe(0), wait);
    expect(engine.aborted).toBe(1);

    // the controller closes the answer's connection (its client went away)
    controller.send(logsReq('r2', 'c1', { follow: '1' }));
    const a = await answer('r2');
    await vi.waitFor(() => expect(engine.open, 'the engine follows').toBe(1), wait);
    a.res.destroy();
    await vi.waitFor(() => expect(engine.open, 'engine request aborted').toBe(0), wait);
    expect(engine.aborted).toBe(2);

    // the controller does not know the request any more
    controller.answerStatus = 404;
    controller.send(logsReq('r3', 'c1', { follow: '1' }));
    await answer('r3');
    await vi.waitFor(() => {
      expect(engine.aborted).toBe(3);
      expect(engine.open).toBe(0);
    }, wait);
    await vi.waitFor(() => expect(tunnel!.activeStreams()).toBe(0), wait);
  });

  it('reconnects when the controller ends the tunnel, when it goes silent, and after a refusal', async () => {
    start({ idleTimeoutMs: 150 });
    await vi.waitFor(() => {
      expect(controller.gets).toBe(1);
      expect(tunnel!.connected()).toBe(true);
    }, wait);
    controller.live()!.end();
    await vi.waitFor(() => {
      expect(controller.gets, 'second connection').toBe(2);
      expect(controller.live()).toBeDefined();
    }, wait);
    // No pings: the agent gives up on the silent connection and opens another.
    await vi.waitFor(() => {
      expect(controller.gets, 'third connection after silence').toBe(3);
      expect(controller.live()).toBeDefined();
    }, { ...wait, timeout: 2000 });
    controller.tunnelStatus = 404;
    controller.live()!.destroy();
    await vi.waitFor(() => expect(controller.gets, 'retries while refused').toBeGreaterThanOrEqual(6), wait);
    expect(tunnel!.connected()).toBe(false);
    controller.tunnelStatus = 200;
    await vi.waitFor(() => expect(tunnel!.connected(), 'connected again').toBe(true), wait);
  });

  it('refuses requests beyond its stream limit and stops everything on close', async () => {
    engine.add('c1', []);
    labels.set('c1', 'default/t-c1');
    const t = start({ maxStreams: 1, statusGraceMs: 10 });
    await vi.waitFor(() => expect(t.connected()).toBe(true), wait);
    controller.send(logsReq('r1', 'c1', { follow: '1' }));
    await vi.waitFor(() => expect(engine.open, 'the engine follows').toBe(1), wait);
    controller.send(logsReq('r2', 'c1', { follow: '1' }));
    const b = await answer('r2', { ended: true });
    expect(b.status).toBe('503');
    expect(JSON.parse(b.body)).toMatchObject({ message: 'node n1 is serving 1 log and exec streams already' });
    await t.close();
    expect(t.connected()).toBe(false);
    expect(t.activeStreams()).toBe(0);
    await vi.waitFor(() => expect(engine.open, 'engine request aborted').toBe(0), wait);
    await vi.waitFor(() => expect(controller.live(), 'tunnel closed at the controller').toBeUndefined(), wait);
  });

  it('stops on its signal', async () => {
    const ac = new AbortController();
    const t = start({ signal: ac.signal });
    await vi.waitFor(() => expect(t.connected()).toBe(true), wait);
    ac.abort();
    await vi.waitFor(() => expect(controller.live(), 'tunnel closed at the controller').toBeUndefined(), wait);
    await t.close();
    const gets = controller.gets;
    await new Promise((r) => setTimeout(r, 100));
    expect(controller.gets).toBe(gets);
  });
});
