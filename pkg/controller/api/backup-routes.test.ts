import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ShoalError } from '../../api/index.js';
import { ApiClient } from '../../client/index.js';
import { MemoryStore, type EtcdHealth } from '../../store/index.js';
import { buildApiServer, type ApiServerOptions } from './server.js';

const PATH = '/apis/shoal/v1/cluster/backup';
let app: FastifyInstance | undefined;
let store: MemoryStore | undefined;

async function serve(opts: Partial<ApiServerOptions>): Promise<FastifyInstance> {
  store = new MemoryStore();
  app = buildApiServer({ security: 'off', store, ...opts });
  await app.ready();
  return app;
}

afterEach(async () => {
  await app?.close();
  await store?.close();
  app = undefined;
});

describe('GET /apis/shoal/v1/cluster/backup', () => {
  it('is 501 when the store cannot take snapshots', async () => {
    const a = await serve({});
    const r = await a.inject({ method: 'GET', url: PATH });
    expect(r.statusCode).toBe(501);
    expect(r.json()).toMatchObject({ kind: 'Status', reason: 'NotImplemented' });
  });

  it('streams the snapshot as it comes', async () => {
    const a = await serve({
      snapshot: async function* () {
        yield Buffer.from('abc');
        yield Buffer.from('def');
      },
    });
    const r = await a.inject({ method: 'GET', url: PATH });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['content-disposition']).toMatch(/^attachment; filename="shoal-backup-.*\.db"$/);
    expect(r.body).toBe('abcdef');
  });

  it('answers 503 with Retry-After when etcd fails before the first byte', async () => {
    const a = await serve({
      // eslint-disable-next-line require-yield
      snapshot: async function* () {
        throw new ShoalError('Unavailable', 'snapshot: etcd cannot commit now: no quorum', { retryAfterSeconds: 1 });
      },
    });
    const r = await a.inject({ method: 'GET', url: PATH });
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
  });

  it('cuts the response when etcd fails half-way, and the client says so', async () => {
    const a = await serve({
      snapshot: async function* () {
        yield Buffer.alloc(64 * 1024, 1);
        await new Promise((r) => setTimeout(r, 50));
        throw new ShoalError('Unavailable', 'snapshot: stream broke');
      },
    });
    await a.listen({ host: '127.0.0.1', port: 0 });
    const addr = a.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const client = new ApiClient(`http://127.0.0.1:${port}`);
    let bytes = 0;
    await expect((async () => {
      for await (const c of client.backup()) bytes += c.length;
    })()).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringMatching(/backup stream .* broke/) as unknown });
    expect(bytes).toBeGreaterThan(0);
  });

  it('the client refuses a stream that does not end with the snapshot\'s checksum', async () => {
    const a = await serve({
      snapshot: async function* () {
        yield Buffer.alloc(4096 + 32, 1);
      },
    });
    await a.listen({ host: '127.0.0.1', port: 0 });
    const addr = a.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const client = new ApiClient(`http://127.0.0.1:${port}`);
    await expect((async () => {
      for await (const _c of client.backup()) void _c;
    })()).rejects.toMatchObject({ code: 'DataLoss' });
  });

  it('cancels the snapshot when the client leaves', async () => {
    let canceled = false;
    const a = await serve({
      snapshot: async function* (signal) {
        signal.addEventListener('abort', () => (canceled = true));
        while (!signal.aborted) {
          yield Buffer.alloc(16 * 1024, 1);
          await new Promise((r) => setTimeout(r, 5));
        }
      },
    });
    await a.listen({ host: '127.0.0.1', port: 0 });
    const addr = a.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const ac = new AbortController();
    const client = new ApiClient(`http://127.0.0.1:${port}`, ac.signal);
    await expect((async () => {
      for await (const _c of client.backup()) ac.abort();
    })()).rejects.toMatchObject({ code: 'Canceled' });
    await expect.poll(() => canceled).toBe(true);
  });
});

describe('cluster info', () => {
  it('shows the etcd members as the store sees them', async () => {
    const health: EtcdHealth = {
      state: 'ok',
      since: 0,
      leader: { memberId: 'b', endpoint: 'http://e2:2379' },
      members: [
        { endpoint: 'http://e1:2379', reachable: false, isLeader: false, error: 'refused' },
        { endpoint: 'http://e2:2379', reachable: true, isLeader: true, memberId: 'b' },
      ],
    };
    const a = await serve({ storeHealth: () => health });
    const r = await a.inject({ method: 'GET', url: '/apis/shoal/v1/cluster/info' });
    expect(r.json().etcd).toEqual({
      state: 'ok',
      leader: 'http://e2:2379',
      members: [{ endpoint: 'http://e1:2379', reachable: false, isLeader: false }, { endpoint: 'http://e2:2379', reachable: true, isLeader: true }],
    });
  });
});
