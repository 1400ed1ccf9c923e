import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { MemoryStore } from '../../store/index.js';
import { ControllerMetrics } from '../metrics.js';
import { buildApiServer } from './server.js';

const NS = '/apis/shoal/v1/namespaces/default';
const svc = (name: string, replicas = 1) => ({
  apiVersion: 'shoal/v1', kind: 'Service', metadata: { name, labels: { app: name } },
  spec: { replicas, template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
});

let store: MemoryStore;
let app: FastifyInstance;
let base: string;
let metrics: ControllerMetrics;
beforeEach(async () => {
  store = new MemoryStore();
  metrics = new ControllerMetrics();
  app = buildApiServer({ security: 'off', store, metrics });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterEach(async () => {
  await app.close();
  await store.close();
});

/** Reads NDJSON lines from a streaming response until `n` events arrived. */
async function readEvents(body: ReadableStream<Uint8Array>, n: number): Promise<{ reader: ReadableStreamDefaultReader<Uint8Array>; events: { type: string; object: { metadata: { name: string } } }[] }> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const events: { type: string; object: { metadata: { name: string } } }[] = [];
  while (events.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  }
  return { reader, events };
}

/** How vi.waitFor polls in these tests. */
const poll = { timeout: 2000, interval: 10 };

describe('watch over HTTP', () => {
  it('streams the initial list then filtered changes, and releases the store watch on disconnect', async () => {
    await app.inject({ method: 'POST', url: `${NS}/services`, payload: svc('a') });
    await app.inject({ method: 'POST', url: `${NS}/services`, payload: svc('b') });
    const ac = new AbortController();
    const res = await fetch(`${base}${NS}/services?watch=1&labelSelector=app%20in%20(a,c)`, { signal: ac.signal });
    expect(res.status).toBe(200);
    const pending = readEvents(res.body as ReadableStream<Uint8Array>, 3);
    await vi.waitFor(() => expect(store.watcherCount).toBe(1), poll);
    await app.inject({ method: 'POST', url: `${NS}/services`, payload: svc('c') });
    await app.inject({ method: 'POST', url: `${NS}/services`, payload: svc('d') });
    await app.inject({ method: 'DELETE', url: `${NS}/services/a` });
    const { reader, events } = await pending;
    expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'a'], ['ADDED', 'c'], ['DELETED', 'a']]);
    expect(await metrics.watches.get()).toMatchObject({ values: [{ value: 1 }] });
    ac.abort();
    await reader.cancel().catch(() => undefined);
    await vi.waitFor(() => expect(store.watcherCount).toBe(0), poll);
    await vi.waitFor(() => expect((metrics.watches as unknown as { hashMap: Record<string, { value: number }> }).hashMap['']?.value).toBe(0), poll);
  });
  it('resumes from a resourceVersion; 410 when compacted', async () => {
    const r = await app.inject({ method: 'POST', url: `${NS}/services`, payload: svc('a') });
    const rv = r.json().metadata.resourceVersion as string;
    await app.inject({ method: 'PATCH', url: `${NS}/services/a`, headers: { 'content-type': 'application/merge-patch+json' }, payload: '{"spec":{"replicas":3}}' });
    const ac = new AbortController();
    const res = await fetch(`${base}${NS}/services?watch=true&resourceVersion=${rv}`, { signal: ac.signal });
    const { reader, events } = await readEvents(res.body as ReadableStream<Uint8Array>, 1);
    expect(events[0]).toMatchObject({ type: 'MODIFIED', object: { metadata: { name: 'a' }, spec: { replicas: 3 } } });
    ac.abort();
    await reader.cancel().catch(() => undefined);
    await app.inject({ method: 'PATCH', url: `${NS}/services/a`, headers: { 'content-type': 'application/merge-patch+json' }, payload: '{"spec":{"replicas":4}}' });
    await store.compact(await store.revision());
    const gone = await fetch(`${base}${NS}/services?watch=1&resourceVersion=${rv}`);
    expect(gone.status).toBe(410);
    expect(await gone.json()).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    const bad = await fetch(`${base}${NS}/services?watch=1&labelSelector=%3D%3D`);
    expect(bad.status).toBe(400);
  });
});
