import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../api/index.js';
import type { ImageApi } from '../../runtime/index.js';
import type { ImageInspect } from '../../api/index.js';
import { EngineClient } from '../../client/index.js';
import { buildEngineApp } from './app.js';
import { listenOnSocket } from './server.js';

const id = 'sha256:' + 'a'.repeat(64);
const imported: string[] = [];

const fake: ImageApi = {
  list: async () => [{ Id: id, RepoTags: ['busybox:latest'], RepoDigests: [], Created: '2024-01-01T00:00:00Z', Size: 1 }],
  inspect: async (ref) => {
    if (ref !== 'localhost:5000/team/app:1.0') throw errors.notFound(`no such image: ${ref}`);
    return { Id: id, RepoTags: [ref] } as unknown as ImageInspect;
  },
  pull: async (ref, o) => {
    if (ref === 'missing') throw errors.notFound('manifest unknown: missing');
    o?.onProgress?.({ id: 'abc', status: 'downloading', current: 1, total: 2 });
    o?.onProgress?.({ id: 'abc', status: 'done' });
    return { ref, digest: 'sha256:' + 'd'.repeat(64), id };
  },
  push: async (ref) => ({ ref, digest: 'sha256:' + 'e'.repeat(64), id }),
  tag: async () => undefined,
  remove: async (ref, o) => ({ untagged: [ref], deleted: o?.force ? [id] : [] }),
  importTar: async (tar, ref) => {
    const chunks: Buffer[] = [];
    for await (const c of tar) chunks.push(Buffer.from(c as Buffer));
    imported.push(Buffer.concat(chunks).toString());
    return { ref, digest: 'sha256:' + 'f'.repeat(64), id };
  },
  login: async (_r, u) => {
    if (u !== 'good') throw errors.unauthorized('bad credentials');
  },
};

describe('engine API: images', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildEngineApp({ images: fake, version: { Version: 't', ApiVersion: 'v1' } });
  });
  afterAll(async () => {
    await app.close();
  });

  it('lists, and inspects URL-encoded references', async () => {
    expect((await app.inject('/v1/images')).json()).toHaveLength(1);
    const r = await app.inject(`/v1/images/${encodeURIComponent('localhost:5000/team/app:1.0')}/json`);
    expect(r.statusCode).toBe(200);
    expect(r.json().Id).toBe(id);
    const nf = await app.inject(`/v1/images/nope/json`);
    expect(nf.statusCode).toBe(404);
    expect(nf.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'no such image: nope' });
  });

  it('streams pull progress and ends with the result or the error', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/images/pull', payload: { ref: 'busybox' } });
    expect(r.headers['content-type']).toBe('application/x-ndjson');
    const lines = r.body.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(0)).toEqual({ id: 'abc', status: 'downloading', current: 1, total: 2 });
    expect(lines.at(-1)).toMatchObject({ status: 'done', ref: 'busybox', id });
    const bad = await app.inject({ method: 'POST', url: '/v1/images/pull', payload: { ref: 'missing' } });
    expect(JSON.parse(bad.body.trim())).toMatchObject({ error: { code: 404, message: 'manifest unknown: missing' } });
  });

  it('answers client mistakes with 4xx V1Status, never 500', async () => {
    const cases = [
      { method: 'POST' as const, url: '/v1/images/pull', payload: { nope: 1 } },
      { method: 'POST' as const, url: '/v1/images/pull', payload: '{bad json', headers: { 'content-type': 'application/json' } },
      { method: 'POST' as const, url: '/v1/images/tag', payload: { source: 'a' } },
      { method: 'POST' as const, url: '/v1/images/import', payload: 'x', headers: { 'content-type': 'application/x-tar' } },
      { method: 'POST' as const, url: '/v1/images/pull', payload: 'x', headers: { 'content-type': 'text/html' } },
      { method: 'GET' as const, url: '/v1/nothing' },
    ];
    for (const c of cases) {
      const r = await app.inject(c);
      expect(r.statusCode, c.url).toBeGreaterThanOrEqual(400);
      expect(r.statusCode, c.url).toBeLessThan(500);
      expect(r.json().kind).toBe('Status');
    }
    const big = await app.inject({ method: 'POST', url: '/v1/images/pull', payload: { ref: 'x'.repeat(2 * 1024 * 1024) } });
    expect(big.statusCode).toBe(413);
  });

  it('imports a streamed body, tags, removes and logs in', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/images/import?ref=x:1', payload: 'TARDATA', headers: { 'content-type': 'application/x-tar' } });
    expect(r.statusCode).toBe(201);
    expect(imported).toContain('TARDATA');
    expect((await app.inject({ method: 'POST', url: '/v1/images/tag', payload: { source: 'a', target: 'b' } })).statusCode).toBe(201);
    expect((await app.inject({ method: 'DELETE', url: '/v1/images/a?force=1' })).json()).toEqual({ untagged: ['a'], deleted: [id] });
    expect((await app.inject({ method: 'POST', url: '/v1/auth', payload: { registry: 'r', username: 'bad', password: 'p' } })).statusCode).toBe(401);
  });
});

describe('engine API over a UNIX socket', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-engine-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the typed client, replaces a stale socket and refuses a live one', async () => {
    const sock = join(dir, 'run', 'agent.sock');
    // A stale socket: bound once, then the server gone.
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(join(dir, 'stale.sock'), r));
    await new Promise<void>((r) => stale.close(() => r()));
    await writeFile(join(dir, 'plain'), 'x');

    const app = await buildEngineApp({ images: fake, version: { Version: 't', ApiVersion: 'v1' } });
    const server = await listenOnSocket(app, sock);
    try {
      expect((await stat(sock)).mode & 0o777).toBe(0o600);
      const client = new EngineClient(`unix://${sock}`);
      expect(await client.listImages()).toHaveLength(1);
      const events = [];
      for await (const ev of client.pullImage('busybox')) events.push(ev);
      expect(events.at(-1)).toMatchObject({ status: 'done', id });
      await expect(async () => {
        for await (const _ of client.pullImage('missing'));
      }).rejects.toMatchObject({ code: 'NotFound' });
      await expect(client.inspectImage('zzz')).rejects.toMatchObject({ code: 'NotFound', message: 'no such image: zzz' });
      await client.close();
      const app2 = await buildEngineApp({ images: fake, version: { Version: 't', ApiVersion: 'v1' } });
      await expect(listenOnSocket(app2, sock)).rejects.toMatchObject({ code: 'FailedPrecondition' });
      await app2.close();
      await expect(listenOnSocket(app2, join(dir, 'plain'))).rejects.toMatchObject({ code: 'FailedPrecondition' });
    } finally {
      await server.close();
    }
    const absent = new EngineClient(`unix://${sock}`);
    await expect(absent.listImages()).rejects.toMatchObject({ code: 'Unavailable', message: `cannot connect to the Shoal engine at unix://${sock}: is shoal-agent running?` });
    await absent.close();
  });
});
