/**
 * The API's authentication and authorization over real TLS (issue 13): a MemoryStore-backed
 * controller serving HTTPS with the cluster CA, and clients presenting admin and node
 * certificates or bearer tokens through ApiClient, as shoalctl and the agents do.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { clusterReservedPorts, encodeExecSpecParam, isShoalError, PortSet, privilegedServiceFeatures, type ShoalError } from '../../api/index.js';
import type { AuditRecord } from './audit.js';
import { ApiClient, type ClientCredentials } from '../../client/index.js';
import { createCA, createCsr, issueKeyPair, newKey } from '../../pki/index.js';
import { MemoryStore } from '../../store/index.js';
import { ControllerMetrics } from '../metrics.js';
import { ClusterSecurity } from '../security/cluster-security.js';
import { buildApiServer } from './server.js';

const NS = '/apis/shoal/v1/namespaces/default';
const svc = { apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'web' }, spec: { replicas: 1, template: { spec: { containers: [{ name: 'm', image: 'busybox' }] } } } };
const task = (name: string, node: string): Record<string, unknown> => ({
  apiVersion: 'shoal/v1', kind: 'Task', metadata: { name, namespace: 'default' },
  spec: { serviceName: 'web', slot: 1, nodeName: node, desiredState: 'running', template: { spec: { containers: [{ name: 'm', image: 'busybox' }] } } },
});
const nodeObj = (name: string): Record<string, unknown> => ({ apiVersion: 'shoal/v1', kind: 'Node', metadata: { name }, spec: {}, status: { state: 'ready', capacity: { cpu: '2', memory: '4Gi', pods: 100 } } });

let store: MemoryStore;
let security: ClusterSecurity;
let app: FastifyInstance;
let url: string;
let admin: ClientCredentials;
const audit: AuditRecord[] = [];
const stop = new AbortController();

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isShoalError(err)) return (err as ShoalError).code;
    throw err;
  }
}

async function joinAs(name: string, c = new ApiClient(url, undefined, undefined, { ca: security.ca.certPem })): Promise<ClientCredentials> {
  const token = await security.workerJoinToken();
  const csr = await createCsr({ cn: name, o: 'shoal:node' });
  const r = await c.call<{ certificate: string }>('POST', '/apis/shoal/v1/cluster/join', { token, csr: csr.csrPem });
  return { ca: security.ca.certPem, cert: r.certificate, key: csr.keyPem };
}

beforeEach(async () => {
  store = new MemoryStore();
  security = await ClusterSecurity.bootstrap({ store, clusterKey: newKey() });
  void security.run(stop.signal);
  await security.waitForSync();
  const serving = await security.serverCertificate(['127.0.0.1']);
  app = buildApiServer({
    store, metrics: new ControllerMetrics(), security, heartbeat: { beat: async () => undefined },
    tls: { certPem: serving.certPem, keyPem: serving.keyPem, caPem: security.ca.certPem },
    privileged: privilegedServiceFeatures,
    hostPorts: { reserved: clusterReservedPorts(6443), allowed: PortSet.EMPTY },
    audit: { write: (r) => void audit.push(r), close: async () => undefined },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  url = `https://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const a = await security.adminCertificate();
  admin = { ca: security.ca.certPem, cert: a.certPem, key: a.keyPem };
});

afterEach(async () => {
  await app.close();
});

describe('authentication', () => {
  it('answers 401 without credentials except on the public paths, and refuses a certificate of another CA', async () => {
    const anon = new ApiClient(url, undefined, undefined, { ca: security.ca.certPem });
    expect(await code(anon.call('GET', `${NS}/services`))).toBe('Unauthorized');
    expect(await code(anon.call('GET', '/version'))).toBe('ok');
    expect(await code(anon.call('GET', '/apis/shoal/v1/cluster/ca'))).toBe('ok');
    const other = await createCA();
    const forged = await issueKeyPair({ ca: other, subject: { cn: 'admin', o: 'shoal:admin' }, ttlMs: 60_000 });
    const mallory = new ApiClient(url, undefined, undefined, { ca: security.ca.certPem, cert: forged.certPem, key: forged.keyPem });
    expect(await code(mallory.call('GET', `${NS}/services`))).toBe('Unauthorized');
    expect(await code(mallory.call('GET', '/version'))).toBe('Unauthorized');
  });

  it('takes the admin certificate and bearer tokens by role; a revoked or expired token stops working', async () => {
    const adm = new ApiClient(url, undefined, undefined, admin);
    expect(await code(adm.call('POST', `${NS}/services`, svc))).toBe('ok');
    const v = await adm.call<{ token: string; id: string }>('POST', '/apis/shoal/v1/cluster/tokens', { role: 'viewer' });
    const viewer = new ApiClient(url, undefined, undefined, { ca: security.ca.certPem, token: v.token });
    expect(await code(viewer.call('GET', `${NS}/services/web`))).toBe('ok');
    expect(await code(viewer.call('DELETE', `${NS}/services/web`))).toBe('PermissionDenied');
    expect(await code(viewer.call('GET', '/apis/shoal/v1/cluster/tokens'))).toBe('PermissionDenied');
    const list = await adm.call<{ items: Record<string, unknown>[] }>('GET', '/apis/shoal/v1/cluster/tokens');
    expect(JSON.stringify(list)).not.toContain('secretHash');
    await adm.call('DELETE', `/apis/shoal/v1/cluster/tokens/${v.id}`);
    await new Promise((r) => setTimeout(r, 50));
    expect(await code(viewer.call('GET', `${NS}/services/web`))).toBe('Unauthorized');
    expect(await code(adm.call('POST', '/apis/shoal/v1/cluster/tokens', { role: 'root', ttl: 'soon' }))).toBe('Invalid');
    const d = await adm.call<{ token: string }>('POST', '/apis/shoal/v1/cluster/tokens', { role: 'deployer', ttl: '1ms' });
    await new Promise((r) => setTimeout(r, 20));
    expect(await code(new ApiClient(url, undefined, undefined, { ca: security.ca.certPem, token: d.token }).call('GET', `${NS}/services`))).toBe('Unauthorized');
  });
});

describe('secrets', () => {
  it('are sealed in the store, hidden from everyone but an admin who reveals, and sent only to the node of a task that uses them', async () => {
    const adm = new ApiClient(url, undefined, undefined, admin);
    const value = 'hunter2-very-secret';
    const secret = { apiVersion: 'shoal/v1', kind: 'Secret', metadata: { name: 'db-pass' }, data: Buffer.from(value).toString('base64') };
    const created = await adm.call<Record<string, unknown>>('POST', `${NS}/secrets`, secret);
    expect(created['data']).toBeUndefined();
    const raw = await store.get('/shoal/v1/secrets/default/db-pass');
    expect(raw?.value).not.toContain(value);
    expect(raw?.value).not.toContain(secret.data);
    const shown = await adm.call<{ data?: string }>('GET', `${NS}/secrets/db-pass?reveal=1`);
    expect(Buffer.from(shown.data ?? '', 'base64').toString()).toBe(value);
    expect((await adm.call<{ data?: string }>('GET', `${NS}/secrets/db-pass`)).data).toBeUndefined();
    const list = await adm.call<{ items: { data?: string }[] }>('GET', `${NS}/secrets`);
    expect(list.items.map((i) => i.data)).toEqual([undefined]);
    const d = await adm.call<{ token: string }>('POST', '/apis/shoal/v1/cluster/tokens', { role: 'deployer' });
    const dep = new ApiClient(url, undefined, undefined, { ca: security.ca.certPem, token: d.token });
    expect(await code(dep.call('GET', `${NS}/secrets/db-pass?reveal=1`))).toBe('PermissionDenied');
    expect(await code(dep.call('GET', `${NS}/secrets/db-pass`))).toBe('ok');
    // A service that names a missing secret is refused with the field.
    const withRef = (src: string): Record<string, unknown> => ({ ...svc, metadata: { name: `uses-${src}` }, spec: { ...svc.spec, template: { spec: { secrets: [{ source: src }], containers: [{ name: 'm', image: 'busybox' }] } } } });
    const missing = await dep.call('POST', `${NS}/services`, withRef('nope')).catch((e: unknown) => e as ShoalError);
    expect((missing as ShoalError).causes.map((c) => c.field)).toEqual(['spec.template.spec.secrets[0].source']);
    expect(await code(dep.call('POST', `${NS}/services`, withRef('db-pass')))).toBe('ok');
    expect(await code(dep.call('DELETE', `${NS}/secrets/db-pass`))).toBe('FailedPrecondition');
    // The task's node gets the value; another node and users do not.
    const n1 = new ApiClient(url, undefined, undefined, await joinAs('n1'));
    const n2 = new ApiClient(url, undefined, undefined, await joinAs('n2'));
    await adm.call('POST', `${NS}/tasks`, { ...task('uses.1.a', 'n1'), spec: { ...(task('uses.1.a', 'n1')['spec'] as object), template: { spec: { secrets: [{ source: 'db-pass' }], containers: [{ name: 'm', image: 'busybox' }] } } } });
    const got = await n1.call<{ data: string }>('GET', `${NS}/tasks/uses.1.a/secrets/db-pass`);
    expect(Buffer.from(got.data, 'base64').toString()).toBe(value);
    expect(await code(n2.call('GET', `${NS}/tasks/uses.1.a/secrets/db-pass`))).toBe('PermissionDenied');
    expect(await code(dep.call('GET', `${NS}/tasks/uses.1.a/secrets/db-pass`))).toBe('PermissionDenied');
    expect(await code(n1.call('GET', `${NS}/secrets/db-pass`))).toBe('PermissionDenied');
    await adm.call('POST', `${NS}/secrets`, { ...secret, metadata: { name: 'other' } });
    expect(await code(n1.call('GET', `${NS}/tasks/uses.1.a/secrets/other`))).toBe('PermissionDenied');
    // A change rolls the services that use it: their template gets the new generation.
    await adm.call('PUT', `${NS}/secrets/db-pass`, { ...secret, data: Buffer.from('new').toString('base64') });
    // A key rotation seals the value again with a new key; it still reads back the same.
    const rawBefore = (await store.get('/shoal/v1/secrets/default/db-pass'))?.value ?? '';
    const rot = await adm.call<{ keyId: string; resealed: number }>('POST', '/apis/shoal/v1/cluster/rotate-key');
    expect(rot.resealed).toBe(3); // two secrets and the join secret
    const rawAfter = (await store.get('/shoal/v1/secrets/default/db-pass'))?.value ?? '';
    expect(rawAfter).not.toBe(rawBefore);
    expect(rawAfter).toContain(`shoal-enc:v1:${rot.keyId}:`);
    expect(Buffer.from((await adm.call<{ data: string }>('GET', `${NS}/secrets/db-pass?reveal=1`)).data, 'base64').toString()).toBe('new');
    expect(await code(dep.call('POST', '/apis/shoal/v1/cluster/rotate-key'))).toBe('PermissionDenied');
    expect(await code(joinAs('n7'))).toBe('ok');
    const user = await adm.call<{ metadata: { generation: number }; spec: { template: { metadata?: { annotations?: Record<string, string> } } } }>('GET', `${NS}/services/uses-db-pass`);
    expect(user.spec.template.metadata?.annotations?.['shoal.io/secret.db-pass']).toBe('2');
    expect(user.metadata.generation).toBe(2);
  });
});

describe('admission', () => {
  it('only an admin creates what reaches the host; the cluster\'s own ports are refused for everyone', async () => {
    const adm = new ApiClient(url, undefined, undefined, admin);
    const d = await adm.call<{ token: string }>('POST', '/apis/shoal/v1/cluster/tokens', { role: 'deployer' });
    const dep = new ApiClient(url, undefined, undefined, { ca: security.ca.certPem, token: d.token });
    const hostNet = { ...svc, metadata: { name: 'h' }, spec: { ...svc.spec, template: { spec: { network: 'host', containers: [{ name: 'm', image: 'busybox' }] } } } };
    let err = await dep.call('POST', `${NS}/services`, hostNet).catch((e: unknown) => e as ShoalError);
    expect((err as ShoalError).code).toBe('PermissionDenied');
    expect((err as ShoalError).message).toMatch(/spec.template.spec.network/);
    expect(await code(dep.call('POST', `${NS}/services`, svc))).toBe('ok');
    // A patch that turns it on later is refused the same way.
    const patch = dep.call('PATCH', `${NS}/services/web`, { spec: { ports: [{ port: 80, targetPort: 80 }] } }, 'application/merge-patch+json');
    expect(await code(patch)).toBe('PermissionDenied');
    expect(await code(adm.call('POST', `${NS}/services`, hostNet))).toBe('ok');
    err = await adm.call('POST', `${NS}/services`, { ...svc, metadata: { name: 'api' }, spec: { ...svc.spec, ports: [{ port: 6443, targetPort: 80 }] } }).catch((e: unknown) => e as ShoalError);
    expect((err as ShoalError).code).toBe('Invalid');
    expect((err as ShoalError).causes.map((c) => c.field)).toEqual(['spec.ports[0].port']);
  });
});

describe('nodes', () => {
  it('join with the current token only; a rotated token no longer joins', async () => {
    expect(await code(joinAs('n1'))).toBe('ok');
    const old = await security.workerJoinToken();
    await security.workerJoinToken(true);
    const csr = await createCsr({ cn: 'n9', o: 'shoal:node' });
    const anon = new ApiClient(url, undefined, undefined, { ca: security.ca.certPem });
    await new Promise((r) => setTimeout(r, 50));
    expect(await code(anon.call('POST', '/apis/shoal/v1/cluster/join', { token: old, csr: csr.csrPem }))).toBe('Unauthorized');
  });

  it('a node reaches only its own Node, tasks and tunnel, and cannot take another node name', async () => {
    const adm = new ApiClient(url, undefined, undefined, admin);
    const n1 = new ApiClient(url, undefined, undefined, await joinAs('n1'));
    expect(await code(n1.call('POST', '/apis/shoal/v1/nodes', nodeObj('n2')))).toBe('PermissionDenied');
    expect(await code(n1.call('POST', '/apis/shoal/v1/nodes', nodeObj('n1')))).toBe('ok');
    await adm.call('POST', '/apis/shoal/v1/nodes', nodeObj('n2'));
    await adm.call('POST', `${NS}/tasks`, task('web.1.a', 'n1'));
    await adm.call('POST', `${NS}/tasks`, task('web.2.b', 'n2'));
    expect(await code(n1.call('POST', '/apis/shoal/v1/nodes/n1/heartbeat'))).toBe('ok');
    expect(await code(n1.call('POST', '/apis/shoal/v1/nodes/n2/heartbeat'))).toBe('PermissionDenied');
    expect(await code(n1.call('GET', '/apis/shoal/v1/tasks?fieldSelector=spec.nodeName%3Dn1'))).toBe('ok');
    expect(await code(n1.call('GET', '/apis/shoal/v1/tasks?fieldSelector=spec.nodeName%3Dn2'))).toBe('PermissionDenied');
    expect(await code(n1.call('GET', `${NS}/tasks/web.1.a`))).toBe('ok');
    expect(await code(n1.call('GET', `${NS}/tasks/web.2.b`))).toBe('PermissionDenied');
    expect(await code(n1.call('PUT', `${NS}/tasks/web.2.b/status`, { status: { state: 'failed' } }))).toBe('PermissionDenied');
    expect(await code(n1.call('PATCH', `${NS}/tasks/web.2.b/status`, { status: { state: 'failed' } }))).toBe('PermissionDenied');
    expect(await code(n1.call('PUT', `${NS}/tasks/web.1.a/status`, { status: { state: 'accepted' } }))).toBe('ok');
    expect(await code(n1.call('GET', `${NS}/services`))).toBe('PermissionDenied');
    expect(await code(n1.call('POST', `${NS}/services`, svc))).toBe('PermissionDenied');
    // Another node's name is taken while that node is a member.
    expect(await code(joinAs('n1'))).toBe('AlreadyExists');
  });

  it('renews its own certificate only, keeps the one in use, and a removed node is refused', async () => {
    const c1 = await joinAs('n1');
    const adm = new ApiClient(url, undefined, undefined, admin);
    const n1 = new ApiClient(url, undefined, undefined, c1);
    await n1.call('POST', '/apis/shoal/v1/nodes', nodeObj('n1'));
    const wrong = await createCsr({ cn: 'n2', o: 'shoal:node' });
    expect(await code(n1.call('POST', '/apis/shoal/v1/nodes/n1/certificate', { csr: wrong.csrPem }))).toBe('PermissionDenied');
    expect(await code(adm.call('POST', '/apis/shoal/v1/nodes/n1/certificate', { csr: wrong.csrPem }))).toBe('PermissionDenied');
    const csr = await createCsr({ cn: 'n1', o: 'shoal:node' });
    const r = await n1.call<{ certificate: string }>('POST', '/apis/shoal/v1/nodes/n1/certificate', { csr: csr.csrPem });
    const c2 = { ca: security.ca.certPem, cert: r.certificate, key: csr.keyPem };
    await new Promise((res) => setTimeout(res, 50));
    const n1b = new ApiClient(url, undefined, undefined, c2);
    expect(await code(n1b.call('GET', '/apis/shoal/v1/nodes/n1'))).toBe('ok');
    // A second renewal from the new certificate: the first one ends.
    const csr3 = await createCsr({ cn: 'n1', o: 'shoal:node' });
    await n1b.call('POST', '/apis/shoal/v1/nodes/n1/certificate', { csr: csr3.csrPem });
    await new Promise((res) => setTimeout(res, 50));
    expect(await code(new ApiClient(url, undefined, undefined, c1).call('GET', '/apis/shoal/v1/nodes/n1'))).toBe('Unauthorized');
    // Removing the node revokes what it holds.
    await adm.call('DELETE', '/apis/shoal/v1/nodes/n1');
    await new Promise((res) => setTimeout(res, 50));
    expect(await code(n1b.call('GET', '/apis/shoal/v1/nodes/n1'))).toBe('Unauthorized');
  });
});

describe('audit', () => {
  it('records mutating requests and execs with who, what and the answer; not reads, not node heartbeats', async () => {
    const adm = new ApiClient(url, undefined, undefined, admin);
    const n1 = new ApiClient(url, undefined, undefined, await joinAs('n1'));
    await n1.call('POST', '/apis/shoal/v1/nodes', nodeObj('n1'));
    audit.length = 0;
    await adm.call('POST', `${NS}/services`, svc);
    await adm.call('GET', `${NS}/services/web`);
    await n1.call('POST', '/apis/shoal/v1/nodes/n1/heartbeat');
    const anon = new ApiClient(url, undefined, undefined, { ca: security.ca.certPem });
    await anon.call('DELETE', `${NS}/services/web`).catch(() => undefined);
    await adm.call('POST', `${NS}/tasks/nope/exec?spec=${encodeURIComponent(encodeExecSpecParam({ cmd: ['cat', '/etc/shadow'] }))}`).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(audit.map((r) => [r.user.kind, r.user.name, r.verb, r.resource, r.name, r.code])).toEqual([
      ['user', 'admin', 'create', 'services', undefined, 201],
      ['anonymous', undefined, 'delete', 'services', 'web', 401],
      ['user', 'admin', 'exec', 'tasks', 'nope', 404],
    ]);
    expect(audit[2]?.command).toEqual(['cat', '/etc/shadow']);
    expect(audit[0]?.user.role).toBe('admin');
  });
});
