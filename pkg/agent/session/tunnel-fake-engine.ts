/**
 * A fake engine API on a temp UNIX socket, for the tunnel tests: the two routes the tunnel
 * uses, with the real engine's wire behaviour (NDJSON frames, V1Status errors, and headers
 * that go out only with the first bytes, as fastify does for a stream).
 *
 *   GET  /v1/containers/:id/logs?follow&tail     the container's lines; follow keeps it open
 *   POST /v1/containers/:id/exec?spec=<b64>      cmd `echo A B` → "A B\n"; `cat` → stdin back;
 *                                                `fail N` → stderr "failing\n", exit N
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toStatus, errors } from '../../api/index.js';

interface FakeContainer {
  lines: { stream: 'stdout' | 'stderr'; log: string; time: string }[];
  followers: Set<ServerResponse>;
}

export class FakeEngine {
  readonly containers = new Map<string, FakeContainer>();
  /** Requests seen, as `METHOD path`. */
  readonly seen: string[] = [];
  /** Requests whose connection closed before their response was complete (aborted by the tunnel). */
  aborted = 0;
  /** Requests in progress. */
  open = 0;

  private constructor(
    readonly socketPath: string,
    private readonly dir: string,
    private readonly server: Server,
  ) {}

  static async start(): Promise<FakeEngine> {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-fake-engine-'));
    const socketPath = join(dir, 'engine.sock');
    const handlers: { engine?: FakeEngine } = {};
    const server = createServer((req, res) => handlers.engine?.handle(req, res));
    const engine = new FakeEngine(socketPath, dir, server);
    handlers.engine = engine;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    return engine;
  }

  add(id: string, lines: string[] = []): void {
    this.containers.set(id, { lines: [], followers: new Set() });
    for (const l of lines) this.push(id, l);
  }

  /** Appends a log line (`err:` prefix: stderr) and sends it to followers. */
  push(id: string, text: string): void {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no container ${id}`);
    const stream = text.startsWith('err:') ? 'stderr' : 'stdout';
    const e = { stream, log: `${stream === 'stderr' ? text.slice(4) : text}\n`, time: new Date().toISOString() } as const;
    c.lines.push(e);
    for (const f of c.followers) f.write(JSON.stringify(e) + '\n');
  }

  /** Ends every follower of a container (as when it exits). */
  finish(id: string): void {
    const c = this.containers.get(id);
    for (const f of c?.followers ?? []) f.end();
    c?.followers.clear();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    await rm(this.dir, { recursive: true, force: true });
  }

  private fail(res: ServerResponse, err: Error): void {
    const s = toStatus(err);
    res.writeHead(s.code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(s));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://engine');
    this.seen.push(`${req.method ?? ''} ${url.pathname}${url.search}`);
    this.open++;
    res.once('close', () => {
      this.open--;
      if (!res.writableFinished) this.aborted++;
    });
    const m = /^\/v1\/containers\/([^/]+)\/(logs|exec)$/.exec(url.pathname);
    const c = m ? this.containers.get(decodeURIComponent(m[1]!)) : undefined;
    if (!m) return this.fail(res, errors.notFound(`no route ${req.method ?? ''} ${url.pathname}`));
    if (!c) return this.fail(res, errors.notFound(`no such container: ${m[1]!}`));
    res.setHeader('content-type', 'application/x-ndjson'); // sent with the first bytes
    if (m[2] === 'logs') {
      const tail = url.searchParams.get('tail');
      const lines = tail === null ? c.lines : c.lines.slice(Math.max(0, c.lines.length - Number(tail)));
      for (const e of lines) res.write(JSON.stringify(e) + '\n');
      if (url.searchParams.get('follow') === '1') {
        c.followers.add(res);
        res.once('close', () => c.followers.delete(res));
      } else res.end();
      return;
    }
    let spec: { cmd: string[] };
    try {
      spec = JSON.parse(Buffer.from(url.searchParams.get('spec') ?? '', 'base64').toString('utf8')) as { cmd: string[] };
    } catch {
      return this.fail(res, errors.invalidArgument('the exec spec (query parameter spec) must be base64-encoded JSON'));
    }
    const frame = (stream: string, text: string): void => void res.write(JSON.stringify({ stream, data: Buffer.from(text).toString('base64') }) + '\n');
    const [cmd, ...args] = spec.cmd;
    if (cmd === 'echo') {
      frame('stdout', `${args.join(' ')}\n`);
      res.end(JSON.stringify({ exitCode: 0 }) + '\n');
    } else if (cmd === 'fail') {
      frame('stderr', 'failing\n');
      res.end(JSON.stringify({ exitCode: Number(args[0] ?? 1) }) + '\n');
    } else if (cmd === 'cat') {
      req.on('data', (d: Buffer) => frame('stdout', d.toString('utf8')));
      req.on('end', () => res.end(JSON.stringify({ exitCode: 0 }) + '\n'));
    } else {
      this.fail(res, errors.invalid(`unknown command ${String(cmd)}`, [{ field: 'cmd', reason: 'FieldValueInvalid', message: 'unknown' }]));
    }
  }
}
