import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clusterReservedPorts, isShoalError, PortSet, type Service, type Task, type WatchEvent } from '../../api/index.js';
import { MemoryStore } from '../../store/index.js';
import { Registry } from './registry.js';
import { applyMergePatch } from './merge-patch.js';

function svc(name: string, extra: Partial<Service['spec']> = {}, labels?: Record<string, string>): unknown {
  return {
    apiVersion: 'shoal/v1',
    kind: 'Service',
    metadata: { name, ...(labels ? { labels } : {}) },
    spec: { replicas: 2, template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } }, ...extra },
  };
}

function task(name: string, nodeName?: string): unknown {
  return {
    apiVersion: 'shoal/v1',
    kind: 'Task',
    metadata: { name },
    spec: { serviceName: 'web', serviceGeneration: 1, slot: 1, desiredState: 'running', ...(nodeName ? { nodeName } : {}), template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
    status: { state: 'pending' },
  };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return isShoalError(err) ? err.code : `non-shoal: ${String(err)}`;
  }
}

let store: MemoryStore;
let reg: Registry;
beforeEach(() => {
  store = new MemoryStore();
  let n = 0;
  reg = new Registry(store, { uid: () => `uid-${++n}`, clock: { now: () => new Date('2026-01-01T00:00:00Z') } });
});
afterEach(async () => {
  await store.close();
});

describe('create and get', () => {
  it('sets identity and never stores resourceVersion', async () => {
    const s = await reg.services.create('default', svc('web'));
    expect(s.metadata).toMatchObject({ name: 'web', namespace: 'default', uid: 'uid-1', generation: 1, creationTimestamp: '2026-01-01T00:00:00.000Z' });
    expect(Number(s.metadata.resourceVersion)).toBeGreaterThan(0);
    const kv = await store.get('/shoal/v1/services/default/web');
    expect(kv).toBeDefined();
    expect(JSON.parse(kv?.value ?? '{}').metadata.resourceVersion).toBeUndefined();
    const got = await reg.services.get('default', 'web');
    expect(got.metadata.resourceVersion).toBe(String(kv?.modRevision));
    expect(got.status).toEqual({});
  });
  it('AlreadyExists, NotFound, Invalid with every cause', async () => {
    await reg.services.create('default', svc('web'));
    expect(await code(reg.services.create('default', svc('web')))).toBe('AlreadyExists');
    expect(await code(reg.services.get('default', 'nope'))).toBe('NotFound');
    try {
      await reg.services.create('default', svc('Bad', { replicas: -1 }));
      expect.unreachable();
    } catch (err) {
      expect(isShoalError(err, 'Invalid')).toBe(true);
      expect((err as { causes: { field: string }[] }).causes.map((c) => c.field).sort()).toEqual(['metadata.name', 'spec.replicas']);
    }
  });
  it('rejects a namespace that differs from the path', async () => {
    const body = svc('web') as { metadata: Record<string, unknown> };
    body.metadata['namespace'] = 'other';
    expect(await code(reg.services.create('default', body))).toBe('InvalidArgument');
  });
  it('nodes are cluster-scoped', async () => {
    const n = await reg.nodes.create(undefined, { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name: 'n1' }, spec: {}, status: { state: 'ready' } });
    expect(n.metadata.namespace).toBeUndefined();
    expect(await store.get('/shoal/v1/nodes/n1')).toBeDefined();
  });
});

describe('replace and patch', () => {
  it('CAS on resourceVersion, unconditional without it, generation bumps on spec change only', async () => {
    const s = await reg.services.create('default', svc('web'));
    const stale = { ...(svc('web', { replicas: 3 }) as object), metadata: { name: 'web', resourceVersion: '1' } };
    expect(await code(reg.services.replace('default', 'web', stale))).toBe('Conflict');
    const good = { ...(svc('web', { replicas: 3 }) as object), metadata: { name: 'web', resourceVersion: s.metadata.resourceVersion } };
    const r = await reg.services.replace('default', 'web', good);
    expect(r.metadata.generation).toBe(2);
    expect(r.metadata.uid).toBe(s.metadata.uid);
    const labelsOnly = { ...(svc('web', { replicas: 3 }) as object), metadata: { name: 'web', labels: { a: 'b' } } };
    const r2 = await reg.services.replace('default', 'web', labelsOnly);
    expect(r2.metadata.generation).toBe(2);
    expect(r2.metadata.labels).toEqual({ a: 'b' });
  });
  it('spec writes keep the stored status', async () => {
    await reg.services.create('default', svc('web'));
    await reg.services.replaceStatus('default', 'web', { status: { replicas: 2, readyReplicas: 1 } });
    const body = { ...(svc('web', { replicas: 5 }) as object), status: { replicas: 99 } };
    const r = await reg.services.replace('default', 'web', body);
    expect(r.status).toEqual({ replicas: 2, readyReplicas: 1 });
  });
  it('merge patch', async () => {
    await reg.services.create('default', svc('web', { placement: { constraints: ['node.name==a'] } }));
    const p = await reg.services.patch('default', 'web', { spec: { replicas: 7, placement: null } });
    expect(p.spec.replicas).toBe(7);
    expect(p.spec.placement).toBeUndefined();
    expect(p.metadata.generation).toBe(2);
    expect(await code(reg.services.patch('default', 'web', { spec: { replicas: -3 } }))).toBe('Invalid');
    expect(await code(reg.services.patch('default', 'web', { metadata: { resourceVersion: '1' }, spec: { replicas: 1 } }))).toBe('Conflict');
    expect(await code(reg.services.patch('default', 'web', [1]))).toBe('InvalidArgument');
    expect(await code(reg.services.patch('default', 'nope', { spec: {} }))).toBe('NotFound');
  });
  it('applyMergePatch follows RFC 7386', () => {
    expect(applyMergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } })).toEqual({ a: 'z', c: { d: 'e' } });
    expect(applyMergePatch({ a: [1, 2] }, { a: [3] })).toEqual({ a: [3] });
    expect(applyMergePatch({ a: 1 }, 'x')).toBe('x');
  });
});

describe('task status', () => {
  it('moves forward only', async () => {
    await reg.tasks.create('default', task('web.1.abc', 'n1'));
    const t = await reg.tasks.replaceStatus('default', 'web.1.abc', { status: { state: 'running', ip: '10.0.0.2' } });
    expect(t.status.state).toBe('running');
    expect(await code(reg.tasks.replaceStatus('default', 'web.1.abc', { status: { state: 'assigned' } }))).toBe('Invalid');
    await reg.tasks.patchStatus('default', 'web.1.abc', { status: { state: 'failed', exitCode: 1 } });
    expect(await code(reg.tasks.patchStatus('default', 'web.1.abc', { status: { state: 'running' } }))).toBe('Invalid');
    const got = await reg.tasks.get('default', 'web.1.abc');
    expect(got.status).toMatchObject({ state: 'failed', exitCode: 1, ip: '10.0.0.2' });
  });
  it('validates status bodies', async () => {
    await reg.tasks.create('default', task('web.1.abc'));
    expect(await code(reg.tasks.replaceStatus('default', 'web.1.abc', { status: { state: 'bogus' } }))).toBe('Invalid');
    expect(await code(reg.tasks.replaceStatus('default', 'web.1.abc', {}))).toBe('Invalid');
  });
});

describe('scale', () => {
  it('reads and writes replicas', async () => {
    await reg.services.create('default', svc('web'));
    expect((await reg.getScale('default', 'web')).spec.replicas).toBe(2);
    const s = await reg.updateScale('default', 'web', { spec: { replicas: 5 } });
    expect(s).toMatchObject({ kind: 'Scale', spec: { replicas: 5 } });
    expect((await reg.services.get('default', 'web')).metadata.generation).toBe(2);
    expect(await code(reg.updateScale('default', 'web', { spec: { replicas: -1 } }))).toBe('Invalid');
    expect(await code(reg.updateScale('default', 'web', { spec: { replicas: 1 }, metadata: { resourceVersion: '1' } }))).toBe('Conflict');
    await reg.services.create('default', svc('g', { mode: 'global', replicas: undefined }));
    expect(await code(reg.updateScale('default', 'g', { spec: { replicas: 2 } }))).toBe('Invalid');
  });
});

describe('list and delete', () => {
  it('filters by namespace, labels and fields', async () => {
    await reg.services.create('default', svc('a', {}, { app: 'x' }));
    await reg.services.create('default', svc('b', {}, { app: 'y' }));
    await reg.services.create('prod', svc('c', {}, { app: 'x' }));
    expect((await reg.services.list({ namespace: 'default' })).items.map((s) => s.metadata.name)).toEqual(['a', 'b']);
    expect((await reg.services.list({})).items).toHaveLength(3);
    const l = await reg.services.list({ labelSelector: 'app=x' });
    expect(l.kind).toBe('ServiceList');
    expect(l.items.map((s) => s.metadata.name).sort()).toEqual(['a', 'c']);
    expect((await reg.services.list({ fieldSelector: 'metadata.name=b' })).items.map((s) => s.metadata.name)).toEqual(['b']);
    expect(await code(reg.services.list({ fieldSelector: 'spec.bogus=1' }))).toBe('InvalidArgument');
    await reg.tasks.create('default', task('web.1.a', 'n1'));
    await reg.tasks.create('default', task('web.2.b', 'n2'));
    expect((await reg.tasks.list({ fieldSelector: 'spec.nodeName=n2' })).items.map((t) => t.metadata.name)).toEqual(['web.2.b']);
  });
  it('deletes with an optional precondition', async () => {
    const s = await reg.services.create('default', svc('a'));
    expect(await code(reg.services.delete('default', 'a', { resourceVersion: '1' }))).toBe('Conflict');
    const d = await reg.services.delete('default', 'a', { resourceVersion: s.metadata.resourceVersion });
    expect(d.metadata.name).toBe('a');
    expect(await code(reg.services.delete('default', 'a'))).toBe('NotFound');
  });
});

describe('watch', () => {
  async function collect(it: AsyncIterator<WatchEvent<Task>>, n: number): Promise<WatchEvent<Task>[]> {
    const out: WatchEvent<Task>[] = [];
    while (out.length < n) {
      const r = await it.next();
      if (r.done) break;
      out.push(r.value);
    }
    return out;
  }
  it('initial list, then changes filtered by selector; leaving the selector is DELETED', async () => {
    await reg.tasks.create('default', task('web.1.a', 'n1'));
    await reg.tasks.create('default', task('web.2.b', 'n2'));
    const ac = new AbortController();
    const it = reg.tasks.watch({ fieldSelector: 'spec.nodeName=n1', signal: ac.signal })[Symbol.asyncIterator]();
    const first = await collect(it, 1);
    expect(first.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'web.1.a']]);
    await reg.tasks.patch('default', 'web.2.b', { spec: { nodeName: 'n1' } }); // starts matching
    await reg.tasks.patchStatus('default', 'web.1.a', { status: { state: 'running' } });
    await reg.tasks.patch('default', 'web.1.a', { spec: { nodeName: 'n3' } }); // stops matching
    await reg.tasks.create('default', task('web.3.c', 'n9')); // never matches
    await reg.tasks.delete('default', 'web.2.b');
    const evs = await collect(it, 4);
    expect(evs.map((e) => [e.type, e.object.metadata.name])).toEqual([
      ['ADDED', 'web.2.b'],
      ['MODIFIED', 'web.1.a'],
      ['DELETED', 'web.1.a'],
      ['DELETED', 'web.2.b'],
    ]);
    ac.abort();
    await it.return?.(undefined);
    expect(store.watcherCount).toBe(0);
  });
  it('resumes from a resourceVersion and answers Gone when compacted', async () => {
    const a = await reg.services.create('default', svc('a'));
    await reg.services.create('default', svc('b'));
    const ac = new AbortController();
    const it = reg.services.watch({ resourceVersion: a.metadata.resourceVersion, signal: ac.signal })[Symbol.asyncIterator]();
    const r = await it.next();
    expect(r.value).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'b' } } });
    ac.abort();
    await it.return?.(undefined);
    await reg.services.patch('default', 'a', { spec: { replicas: 4 } });
    await store.compact(await store.revision());
    const ac2 = new AbortController();
    const it2 = reg.services.watch({ resourceVersion: a.metadata.resourceVersion, signal: ac2.signal })[Symbol.asyncIterator]();
    expect(await code(it2.next())).toBe('Gone');
    ac2.abort();
  });
});

describe('admission: what this version would not honour', () => {
  it('refuses hostPath volumes, cron and the rest with 422 naming the exact field, never storing them', async () => {
    const hostPath = svc('logs', { template: { spec: { volumes: [{ name: 'v', hostPath: { path: '/var/log' } }], containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/l' }] }] } } });
    const err = await reg.services.create('default', hostPath).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Invalid' });
    expect((err as { causes: { field: string; reason: string; message: string }[] }).causes).toEqual([
      { field: 'spec.template.spec.volumes[0].hostPath', reason: 'FieldValueNotSupported', message: expect.stringContaining('not supported yet') },
      { field: 'spec.template.spec.containers[0].volumeMounts', reason: 'FieldValueNotSupported', message: expect.stringContaining('not supported yet') },
    ]);
    const cron = await reg.services.create('default', svc('backup', { mode: 'cron', schedule: '0 3 * * *', replicas: undefined })).catch((e: unknown) => e);
    expect((cron as { causes: { field: string }[] }).causes.map((c) => c.field)).toEqual(['spec.mode', 'spec.schedule']);
    expect((await reg.services.list({})).items).toEqual([]);
  });

  it('refuses a patch or replace that adds one, and keeps the stored service', async () => {
    await reg.services.create('default', svc('web'));
    const patch = await reg.services.patch('default', 'web', { spec: { placement: { spread: 'node.labels.zone' } } }).catch((e: unknown) => e);
    expect(patch).toMatchObject({ code: 'Invalid', causes: [{ field: 'spec.placement.spread' }] });
    expect(await code(reg.services.patch('default', 'web', { spec: { update: { parallelism: 2, order: 'start-first' } } }))).toBe('ok');
    const cur = await reg.services.get('default', 'web');
    const body = { ...cur, spec: { ...cur.spec, update: { ...cur.spec.update, delay: '10s' } } };
    expect(await reg.services.replace('default', 'web', body).catch((e: unknown) => e)).toMatchObject({ code: 'Invalid', causes: [{ field: 'spec.update.delay' }] });
    expect((await reg.services.get('default', 'web')).spec.update).toEqual({ parallelism: 2, order: 'start-first' });
  });
});

describe('admission: the cluster\'s own ports', () => {
  const withPorts = (allowed: string): Registry => new Registry(store, { hostPorts: { reserved: clusterReservedPorts(7443), allowed: PortSet.parse(allowed) } });
  const port = (p: number, mode?: 'host', protocol?: 'UDP') => ({ port: p, targetPort: 80, ...(mode ? { mode } : {}), ...(protocol ? { protocol } : {}) });

  it('refuses the API, etcd, VXLAN and SSH ports in either mode, with the field and why', async () => {
    const r = withPorts('');
    const err = await r.services.create('default', svc('grab', { ports: [port(8080), port(7443), port(2379, 'host'), port(4789, undefined, 'UDP'), port(22, 'host')] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Invalid' });
    const causes = (err as { causes: { field: string; reason: string; message: string }[] }).causes;
    expect(causes.map((c) => c.field)).toEqual(['spec.ports[1].port', 'spec.ports[2].port', 'spec.ports[3].port', 'spec.ports[4].port']);
    expect(causes[0]).toMatchObject({ reason: 'FieldValueForbidden', message: expect.stringMatching(/controller's API.*--allowed-host-ports 7443/) });
    expect(causes[2]?.message).toMatch(/VXLAN/);
    expect(await code(r.services.create('default', svc('web', { ports: [port(6443), port(2381)] })))).toBe('ok');
    expect(await code(r.services.patch('default', 'web', { spec: { ports: [port(2380)] } }))).toBe('Invalid');
  });

  it('admits what --allowed-host-ports lists', async () => {
    const r = withPorts('22,2379-2380');
    expect(await code(r.services.create('default', svc('ssh', { ports: [port(22, 'host'), port(2380)] })))).toBe('ok');
    expect(await code(r.services.create('default', svc('api', { ports: [port(7443)] })))).toBe('Invalid');
  });

  it('is off in a Registry built without the policy (tests, tools)', async () => {
    expect(await code(reg.services.create('default', svc('ssh', { ports: [port(22)] })))).toBe('ok');
  });
});

describe('published ports', () => {
  const port = (p: number, mode?: 'ingress' | 'host', protocol?: 'TCP' | 'UDP') => ({ port: p, targetPort: 80, ...(mode ? { mode } : {}), ...(protocol ? { protocol } : {}) });
  it('refuses an ingress port another service publishes, with the field and the other service', async () => {
    await reg.services.create('default', svc('web', { ports: [port(8080)] }));
    const err = await reg.services.create('prod', svc('api', { ports: [port(9000), port(8080, 'host')] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Invalid', causes: [{ field: 'spec.ports[1].port', reason: 'FieldValueDuplicate' }] });
    expect(String((err as Error).message)).toContain('port 8080/tcp is already published by service default/web (ingress mode)');
    // Another protocol, or two host-mode ports (the scheduler keeps those apart), are fine.
    expect(await code(reg.services.create('default', svc('dns', { ports: [port(8080, 'ingress', 'UDP')] })))).toBe('ok');
    await reg.services.create('default', svc('h1', { ports: [port(7000, 'host')] }));
    expect(await code(reg.services.create('default', svc('h2', { ports: [port(7000, 'host')] })))).toBe('ok');
    expect(await code(reg.services.create('default', svc('h3', { ports: [port(7000)] })))).toBe('Invalid');
  });
  it('checks spec writes too, and a service keeps its own ports', async () => {
    await reg.services.create('default', svc('web', { ports: [port(8080)] }));
    await reg.services.create('default', svc('api', { ports: [port(9000)] }));
    expect(await code(reg.services.patch('default', 'web', { spec: { replicas: 5 } }))).toBe('ok');
    expect(await code(reg.services.patch('default', 'api', { spec: { ports: [port(9000), port(8080)] } }))).toBe('Invalid');
    expect((await reg.services.get('default', 'api')).spec.ports).toHaveLength(1);
  });
});
