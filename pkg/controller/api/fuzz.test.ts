/** Garbage in, never a 500 out: random bodies, paths, query strings and content types at every route. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { MemoryStore } from '../../store/index.js';
import { ControllerMetrics } from '../metrics.js';
import { buildApiServer } from './server.js';

const ROUTES: [string, string][] = [];
for (const p of ['/apis/shoal/v1/namespaces/NS/services', '/apis/shoal/v1/namespaces/NS/tasks']) {
  ROUTES.push(['GET', p], ['POST', p]);
  for (const m of ['GET', 'PUT', 'PATCH', 'DELETE']) ROUTES.push([m, `${p}/NAME`]);
  for (const m of ['GET', 'PUT', 'PATCH']) ROUTES.push([m, `${p}/NAME/status`]);
}
for (const m of ['GET', 'PUT', 'PATCH']) ROUTES.push([m, '/apis/shoal/v1/namespaces/NS/services/NAME/scale']);
ROUTES.push(['GET', '/apis/shoal/v1/nodes'], ['POST', '/apis/shoal/v1/nodes'], ['POST', '/apis/shoal/v1/nodes/NAME/heartbeat']);
for (const m of ['GET', 'PUT', 'PATCH', 'DELETE']) ROUTES.push([m, '/apis/shoal/v1/nodes/NAME']);
for (const m of ['GET', 'PUT', 'PATCH']) ROUTES.push([m, '/apis/shoal/v1/nodes/NAME/status']);
ROUTES.push(['GET', '/apis/shoal/v1/services'], ['GET', '/apis/shoal/v1/tasks'], ['GET', '/healthz'], ['GET', '/version'], ['GET', '/apis/shoal/v1/cluster/info']);

const TYPES = ['application/json', 'application/merge-patch+json', 'application/yaml', 'text/plain', 'application/octet-stream', 'application/json; charset=utf-8', ''];

const jsonish = fc.oneof(
  fc.json(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.constantFrom(
    '{"apiVersion":"shoal/v1","kind":"Service","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}',
    '{"spec":{"replicas":1e308}}', '{"metadata":{"resourceVersion":"abc"}}', '{"metadata":{"resourceVersion":99999999999999999999}}',
    '{"status":{"state":"running"}}', '{"status":null}', '{"spec":null,"metadata":null}', 'null', '[]', '"x"', '1', 'true',
    '{"metadata":{"name":{"toString":1}}}', '{"constructor":{"prototype":{"x":1}}}', 'a: *b', '- - - - - [', '!!binary xyz', '{{{{', '\u0000',
    '{"metadata":{"name":"web","labels":{"a":1}}}', '{"preconditions":{"resourceVersion":5}}', '{"spec":{"replicas":"7"}}',
  ),
);
const VALID = { apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'web' }, spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } };
/** Near-valid objects: one field anywhere replaced by anything. */
const nearValid = fc
  .tuple(
    fc.constantFrom('metadata', 'spec', 'status', 'spec.template', 'spec.template.spec', 'spec.template.spec.containers', 'metadata.labels', 'spec.ports', 'spec.placement', 'spec.restart', 'spec.update'),
    fc.constantFrom('name', 'replicas', 'mode', 'image', 'containers', 'labels', 'state', 'constraints', '0', 'delay', 'ports', 'resources', 'resourceVersion'),
    fc.anything({ maxDepth: 3 }),
  )
  .map(([path, key, value]) => {
    const o = structuredClone(VALID) as Record<string, unknown>;
    let cur: Record<string, unknown> = o;
    for (const seg of path.split('.')) {
      if (cur[seg] === null || typeof cur[seg] !== 'object') cur[seg] = {};
      cur = cur[seg] as Record<string, unknown>;
    }
    cur[key] = value;
    try {
      return JSON.stringify(o);
    } catch {
      return '{}';
    }
  });
const body = fc.oneof(jsonish, nearValid);
const segment = fc.oneof(fc.constantFrom('default', 'web', 'n1', 'web.1.abc', '%2F', '%00', '..', 'a%20b', 'X'.repeat(300), '%E0%A4%A', '~'), fc.string({ maxLength: 20 }).map(encodeURIComponent));
const queryStr = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?watch=maybe', '?labelSelector=(((', '?fieldSelector=x', '?labelSelector=a&labelSelector=b', '?resourceVersion=-1', '?resourceVersion=abc',
    '?fieldSelector=status.state%3D', '?watch=0&labelSelector=a%20in%20()', '?%zz', '?watch[]=1', '?resourceVersion=99999999999999999999'),
  fc.string({ maxLength: 30 }).map((s) => `?${encodeURIComponent(s)}=${encodeURIComponent(s)}`),
);

let store: MemoryStore;
let app: FastifyInstance;
beforeAll(async () => {
  store = new MemoryStore();
  app = buildApiServer({ store, metrics: new ControllerMetrics(), heartbeat: { beat: async () => undefined } });
  await app.ready();
  await app.inject({ method: 'POST', url: '/apis/shoal/v1/namespaces/default/services', payload: { apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'web' }, spec: { template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } } });
  await app.inject({ method: 'POST', url: '/apis/shoal/v1/nodes', payload: { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name: 'n1' }, spec: {}, status: { state: 'ready' } } });
});
afterAll(async () => {
  await app.close();
  await store.close();
});

describe('fuzz', () => {
  it('no request yields a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), segment, segment, queryStr, body, fc.constantFrom(...TYPES), async ([method, path], ns, name, q, body, type) => {
        const url = path.replace('NS', ns).replace('NAME', name) + (q.includes('watch=1') ? '' : q);
        const headers: Record<string, string> = type === '' ? {} : { 'content-type': type };
        const r = await app.inject({ method: method as 'GET', url, headers, ...(method === 'GET' ? {} : { payload: body }) });
        if (r.statusCode >= 500) throw new Error(`${method} ${url} (${type}) ${JSON.stringify(body).slice(0, 200)} -> ${r.statusCode} ${r.body.slice(0, 300)}`);
        if (r.statusCode >= 400) expect(r.json()).toMatchObject({ kind: 'Status' });
      }),
      { numRuns: 1500 },
    );
  });
});
