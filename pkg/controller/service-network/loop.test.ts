import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Endpoints, Service, Task } from '../../api/index.js';
import { makeService, makeTask } from '../../scheduler/index.js';
import { decodeObject, encodeObject, Informer, MemoryStore, objectKey, resourcePrefix, storeKeyOf } from '../../store/index.js';
import { SERVICE_INDEX, taskServiceIndex } from '../orchestrator/index.js';
import { runServiceNetworkLoop } from './loop.js';
import { VipAllocator } from './vip.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const poll = { timeout: 5000, interval: 10 };

function start(store: MemoryStore, serviceCidr = '10.96.0.0/16'): void {
  const ac = new AbortController();
  const services = new Informer<Service>({ store, prefix: resourcePrefix('services'), decode: (kv) => decodeObject<Service>(kv) });
  const tasks = new Informer<Task>({ store, prefix: resourcePrefix('tasks'), decode: (kv) => decodeObject<Task>(kv), indexers: { [SERVICE_INDEX]: taskServiceIndex } });
  const endpoints = new Informer<Endpoints>({ store, prefix: resourcePrefix('endpoints'), decode: (kv) => decodeObject<Endpoints>(kv) });
  const runs = [services.run(ac.signal), tasks.run(ac.signal), endpoints.run(ac.signal), runServiceNetworkLoop({ store, services, tasks, endpoints, serviceCidr, signal: ac.signal })];
  cleanups.push(async () => {
    ac.abort();
    await Promise.allSettled(runs);
  });
}

async function svcOf(store: MemoryStore, name: string): Promise<Service | undefined> {
  const kv = await store.get(objectKey('services', 'default', name));
  return kv ? decodeObject<Service>(kv) : undefined;
}
async function epOf(store: MemoryStore, name: string): Promise<Endpoints | undefined> {
  const kv = await store.get(objectKey('endpoints', 'default', name));
  return kv ? decodeObject<Endpoints>(kv) : undefined;
}
function running(name: string, svc: string, ip: string, node = 'n1'): Task {
  const t = makeTask({ name, service: svc, nodeName: node, state: 'running' });
  t.status.ip = ip;
  return t;
}

describe('VipAllocator', () => {
  it('never gives the network or broadcast address, nor one address twice, and frees on release', () => {
    const a = new VipAllocator('10.96.0.0/29');
    const got = Array.from({ length: 6 }, (_, i) => a.allocate(`s${i}`));
    expect(new Set(got).size).toBe(6);
    expect(got).not.toContain('10.96.0.0');
    expect(got).not.toContain('10.96.0.7');
    expect(() => a.allocate('s6')).toThrow(/exhausted/);
    a.release('s2');
    expect(a.allocate('s6')).toBe(got[2]);
    expect(a.claim('s0', got[1]!)).toBe(false);
    expect(a.claim('x', '10.97.0.1')).toBe(false);
    expect(a.claim('s0', got[0]!)).toBe(true);
  });
});

describe('service-network loop', () => {
  it('allocates a VIP once, keeps Endpoints in step with running tasks, and cleans up on delete', async () => {
    const store = new MemoryStore();
    cleanups.push(() => store.close());
    const web = makeService('web', { replicas: 2, networks: ['front'], ports: [{ port: 8080, targetPort: 80 }, { port: 22, targetPort: 22, mode: 'host' }] });
    await store.create(storeKeyOf(web), encodeObject(web));
    start(store);
    const vip = await vi.waitFor(async () => {
      const v = (await svcOf(store, 'web'))?.status?.virtualIP;
      expect(v).toMatch(/^10\.96\.\d+\.\d+$/);
      return v!;
    }, poll);
    await vi.waitFor(async () => expect((await epOf(store, 'web'))?.spec).toEqual({
      serviceUid: 'uid-web', endpointMode: 'vip', virtualIP: vip, networks: ['front'], ingress: [{ protocol: 'TCP', port: 8080, targetPort: 80 }], addresses: [],
    }), poll);
    const t1 = running('web.1.a', 'web', '10.244.1.5', 'n1');
    const t2 = running('web.2.b', 'web', '10.244.0.9', 'n2');
    await store.create(storeKeyOf(t1), encodeObject(t1));
    await store.create(storeKeyOf(t2), encodeObject(t2));
    await vi.waitFor(async () => expect((await epOf(store, 'web'))?.spec.addresses).toEqual([
      { ip: '10.244.0.9', taskName: 'web.2.b', nodeName: 'n2' }, { ip: '10.244.1.5', taskName: 'web.1.a', nodeName: 'n1' },
    ]), poll);
    // A task that stops running leaves at once.
    const kv = (await store.get(storeKeyOf(t1)))!;
    await store.update(kv.key, encodeObject({ ...t1, status: { ...t1.status, state: 'failed' } } as Task), kv.modRevision);
    await vi.waitFor(async () => expect((await epOf(store, 'web'))?.spec.addresses.map((a) => a.ip)).toEqual(['10.244.0.9']), poll);
    expect((await svcOf(store, 'web'))?.status?.virtualIP).toBe(vip);
    // dnsrr: no VIP.
    const s = (await store.get(storeKeyOf(web)))!;
    const cur = decodeObject<Service>(s);
    await store.update(s.key, encodeObject({ ...cur, spec: { ...cur.spec, endpointMode: 'dnsrr' } }), s.modRevision);
    await vi.waitFor(async () => {
      expect((await svcOf(store, 'web'))?.status?.virtualIP).toBeUndefined();
      expect((await epOf(store, 'web'))?.spec.endpointMode).toBe('dnsrr');
    }, poll);
    await store.delete(storeKeyOf(web));
    await vi.waitFor(async () => expect(await epOf(store, 'web')).toBeUndefined(), poll);
  });

  it('keeps the older service of a duplicated VIP and gives the younger a new one; jobs get none', async () => {
    const store = new MemoryStore();
    cleanups.push(() => store.close());
    const a = makeService('a');
    a.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
    a.status = { virtualIP: '10.96.0.10' };
    const b = makeService('b');
    b.metadata.creationTimestamp = '2026-02-01T00:00:00Z';
    b.status = { virtualIP: '10.96.0.10' };
    const j = makeService('j', { mode: 'job' });
    for (const s of [a, b, j]) await store.create(storeKeyOf(s), encodeObject(s));
    start(store);
    await vi.waitFor(async () => {
      expect((await svcOf(store, 'a'))?.status?.virtualIP).toBe('10.96.0.10');
      const vb = (await svcOf(store, 'b'))?.status?.virtualIP;
      expect(vb).toMatch(/^10\.96\./);
      expect(vb).not.toBe('10.96.0.10');
    }, poll);
    expect((await svcOf(store, 'j'))?.status?.virtualIP).toBeUndefined();
    expect(await epOf(store, 'j')).toBeUndefined();
  });
});
