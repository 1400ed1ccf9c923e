import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { MemoryStore } from '../../store/index.js';
import { ControllerMetrics } from '../metrics.js';
import { buildApiServer } from './server.js';

const NS = '/apis/shoal/v1/namespaces/default';
const svc = (name: string, replicas = 2): Record<string, unknown> => ({
  apiVersion: 'shoal/v1',
  kind: 'Service',
  metadata: { name, labels: { app: name } },
  spec: { replicas, template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
});

let store: MemoryStore;
let app: FastifyInstance;
let beats: string[];
beforeEach(async () => {
  store = new MemoryStore();
  beats = [];
  app = buildApiServer({ security: 'off',
    store,
    metrics: new ControllerMetrics(),
    heartbeat: { beat: async (n) => void beats.push(n) },
    leaderInfo: () => ({ id: 'c1', isLeader: true, leader: 'c1' }),
  });
  await app.ready();
});
afterEach(async () => {
  await app.close();
  await store.close();
});

describe('services', () => {
  it('create, get, list, replace, patch, scale, delete', async () => {
    let r = await app.inject({ method: 'POST', url: `${NS}/services`, payload: svc('web') });
    expect(r.statusCode).toBe(201);
    const created = r.json();
    expect(created.metadata.uid).toBeTruthy();
    r = await app.inject({ method: 'GET', url: `${NS}/services/web` });
    expect(r.statusCode).toBe(200);
    expect(r.json().metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    r = await app.inject({ method: 'GET', url: `/apis/shoal/v1/services?labelSelector=app%3Dweb` });
    expect(r.json()).toMatchObject({ kind: 'ServiceList', items: [{ metadata: { name: 'web' } }] });
    r = await app.inject({ method: 'PUT', url: `${NS}/services/web`, payload: { ...svc('web', 3), metadata: { name: 'web', resourceVersion: '1' } } });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    r = await app.inject({ method: 'PATCH', url: `${NS}/services/web`, headers: { 'content-type': 'application/merge-patch+json' }, payload: '{"spec":{"replicas":4}}' });
    expect(r.statusCode).toBe(200);
    expect(r.json().spec.replicas).toBe(4);
    r = await app.inject({ method: 'PUT', url: `${NS}/services/web/scale`, payload: { spec: { replicas: 6 } } });
    expect(r.json()).toMatchObject({ kind: 'Scale', spec: { replicas: 6 } });
    r = await app.inject({ method: 'GET', url: `${NS}/services/web/scale` });
    expect(r.json().spec.replicas).toBe(6);
    r = await app.inject({ method: 'DELETE', url: `${NS}/services/web` });
    expect(r.statusCode).toBe(200);
    r = await app.inject({ method: 'GET', url: `${NS}/services/web` });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound' });
  });
  it('accepts YAML bodies', async () => {
    const yaml = 'apiVersion: shoal/v1\nkind: Service\nmetadata: {name: y}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: busybox}]\n';
    const r = await app.inject({ method: 'POST', url: `${NS}/services`, headers: { 'content-type': 'application/yaml' }, payload: yaml });
    expect(r.statusCode).toBe(201);
  });
  it('422 with every cause', async () => {
    const r = await app.inject({ method: 'POST', url: `${NS}/services`, payload: { ...svc('Bad', -1) } });
    expect(r.statusCode).toBe(422);
    const s = r.json();
    expect(s.reason).toBe('Invalid');
    expect(s.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(['metadata.name', 'spec.replicas']);
  });
  it('400 for malformed, deep, multi-document and unsupported bodies; 413 for big ones', async () => {
    const post = (payload: string, type = 'application/json') => app.inject({ method: 'POST', url: `${NS}/services`, headers: { 'content-type': type }, payload });
    expect((await post('{"a":')).statusCode).toBe(400);
    expect((await post('')).statusCode).toBe(400);
    expect((await post('['.repeat(100) + ']'.repeat(100))).statusCode).toBe(400);
    expect((await post('a: [', 'application/yaml')).statusCode).toBe(400);
    expect((await post('a: 1\n---\nb: 2\n', 'application/yaml')).statusCode).toBe(400);
    expect((await post('a: &x [1]\nb: *x\nc: !!js/function "x"\nd: {a: 1, a: 2}\n', 'application/yaml')).statusCode).toBe(400);
    const deepYaml = Array.from({ length: 80 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n';
    expect((await post(deepYaml, 'application/yaml')).statusCode).toBe(400);
    const bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill('*' + String.fromCharCode(97 + i)).join(',')}]`).join('\n') + '\n';
    expect((await post(bomb, 'application/yaml')).statusCode).toBe(400);
    expect((await post('<xml/>', 'application/xml')).statusCode).toBe(400);
    const big = JSON.stringify({ ...svc('big'), metadata: { name: 'big', annotations: { a: 'x'.repeat(3 * 1024 * 1024 + 10) } } });
    const r = await post(big);
    expect(r.statusCode).toBe(413);
    expect(r.json()).toMatchObject({ kind: 'Status', reason: 'RequestEntityTooLarge' });
    expect((await post('{"__proto__": {"polluted": 1}}')).statusCode).toBe(422);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
  it('503 with Retry-After when the store is down', async () => {
    await store.close();
    const r = await app.inject({ method: 'GET', url: `${NS}/services/web` });
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBeDefined();
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
  });
});

describe('tasks and nodes', () => {
  it('task status moves forward only; agents filter by node', async () => {
    const task = {
      apiVersion: 'shoal/v1', kind: 'Task', metadata: { name: 'web.1.abc' },
      spec: { serviceName: 'web', serviceGeneration: 1, slot: 1, nodeName: 'n1', desiredState: 'running', template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
      status: { state: 'assigned' },
    };
    expect((await app.inject({ method: 'POST', url: `${NS}/tasks`, payload: task })).statusCode).toBe(201);
    let r = await app.inject({ method: 'PUT', url: `${NS}/tasks/web.1.abc/status`, payload: { status: { state: 'running' } } });
    expect(r.statusCode).toBe(200);
    r = await app.inject({ method: 'PUT', url: `${NS}/tasks/web.1.abc/status`, payload: { status: { state: 'pending' } } });
    expect(r.statusCode).toBe(422);
    expect(r.json().message).toMatch(/only move forward/);
    r = await app.inject({ method: 'GET', url: `/apis/shoal/v1/tasks?fieldSelector=spec.nodeName%3Dn1` });
    expect(r.json().items).toHaveLength(1);
    r = await app.inject({ method: 'GET', url: `/apis/shoal/v1/tasks?fieldSelector=spec.nodeName%3Dn2` });
    expect(r.json().items).toHaveLength(0);
    r = await app.inject({ method: 'GET', url: `/apis/shoal/v1/tasks?fieldSelector=bogus` });
    expect(r.statusCode).toBe(400);
  });
  it('nodes register, heartbeat, patch availability', async () => {
    let r = await app.inject({ method: 'POST', url: `/apis/shoal/v1/nodes/n1/heartbeat` });
    expect(r.statusCode).toBe(404);
    r = await app.inject({ method: 'POST', url: '/apis/shoal/v1/nodes', payload: { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name: 'n1' }, spec: {}, status: { state: 'ready', capacity: { cpu: '2', memory: '4Gi', pods: 100 } } } });
    expect(r.statusCode).toBe(201);
    r = await app.inject({ method: 'POST', url: `/apis/shoal/v1/nodes/n1/heartbeat` });
    expect(r.statusCode).toBe(200);
    expect(beats).toEqual(['n1']);
    r = await app.inject({ method: 'PATCH', url: '/apis/shoal/v1/nodes/n1', headers: { 'content-type': 'application/merge-patch+json' }, payload: '{"spec":{"availability":"drain"}}' });
    expect(r.json().spec.availability).toBe('drain');
    r = await app.inject({ method: 'PATCH', url: '/apis/shoal/v1/nodes/n1/status', headers: { 'content-type': 'application/merge-patch+json' }, payload: '{"status":{"state":"down"}}' });
    expect(r.json().status).toMatchObject({ state: 'down', capacity: { cpu: '2' } });
    r = await app.inject({ method: 'GET', url: '/apis/shoal/v1/cluster/info' });
    expect(r.json()).toMatchObject({ kind: 'ClusterInfo', leader: 'c1', nodes: { total: 1, byState: { down: 1 } } });
  });
});

describe('system', () => {
  it('healthz, readyz, version, metrics, 404', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).body).toBe('ok');
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/version' })).json().apiVersion).toBe('shoal/v1');
    await app.inject({ method: 'GET', url: `${NS}/services` });
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toContain('shoal_api_request_duration_seconds_bucket');
    expect(m.body).toContain('route="/apis/shoal/v1/namespaces/:ns/services"');
    expect(m.body).toContain('shoal_api_watches');
    const nf = await app.inject({ method: 'GET', url: '/nope' });
    expect(nf.statusCode).toBe(404);
    expect(nf.json().kind).toBe('Status');
  });
});
