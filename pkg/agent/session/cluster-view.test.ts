import { describe, expect, it, vi } from 'vitest';
import { API_VERSION, type Endpoints, type Node } from '../../api/index.js';
import type { ClusterNetworkSpec } from '../../network/index.js';
import { ClusterNetworkApplier, clusterNetworkSpec } from './cluster-view.js';

const self = { nodeName: 'n1', podCIDR: '10.244.0.0/24', address: '192.168.1.1', vtepMAC: '0e:00:00:00:00:01', port: 4789 };
function node(name: string, cidr?: string, overlay = true): Node {
  return {
    apiVersion: API_VERSION, kind: 'Node', metadata: { name },
    spec: cidr ? { podCIDR: cidr } : {},
    status: { state: 'ready', ...(overlay ? { overlay: { vtepMAC: `0e:00:00:00:00:0${name.slice(1)}`, address: `192.168.1.${name.slice(1)}`, port: 4789 } } : {}) },
  };
}
function ep(name: string, ns: string, spec: Partial<Endpoints['spec']>): Endpoints {
  return { apiVersion: API_VERSION, kind: 'Endpoints', metadata: { name, namespace: ns }, spec: { endpointMode: 'vip', networks: ['default'], ingress: [], addresses: [], ...spec } };
}

describe('clusterNetworkSpec', () => {
  it('makes peers of other nodes with a podCIDR and an overlay endpoint, and services of Endpoints', () => {
    const spec = clusterNetworkSpec(self, [node('n1', '10.244.0.0/24'), node('n3', '10.244.2.0/24'), node('n2', '10.244.1.0/24'), node('n4'), node('n5', '10.244.4.0/24', false)], [
      ep('web', 'default', { virtualIP: '10.96.0.5', ingress: [{ protocol: 'TCP', port: 8080, targetPort: 80 }], addresses: [{ ip: '10.244.1.2', taskName: 'web.1.a', nodeName: 'n2' }] }),
      ep('db', 'prod', { endpointMode: 'dnsrr', virtualIP: '10.96.0.9', networks: ['back', 'default'] }),
    ]);
    expect(spec.peers.map((p) => p.nodeName)).toEqual(['n2', 'n3']);
    expect(spec.peers[0]).toEqual({ nodeName: 'n2', podCIDR: '10.244.1.0/24', address: '192.168.1.2', vtepMAC: '0e:00:00:00:00:02', port: 4789 });
    expect(spec.services.map((s) => s.key)).toEqual(['default/web', 'prod/db']);
    expect(spec.services[0]).toMatchObject({ virtualIP: '10.96.0.5', networks: ['default/default'], ingress: [{ protocol: 'tcp', port: 8080, targetPort: 80 }] });
    expect(spec.services[1]?.virtualIP).toBeUndefined();
    expect(spec.services[1]?.networks).toEqual(['prod/back', 'prod/default']);
  });
});

describe('ClusterNetworkApplier', () => {
  it('applies once per change, and retries a failure', async () => {
    const ac = new AbortController();
    let spec: ClusterNetworkSpec | undefined = { self, peers: [], services: [] };
    const applied: ClusterNetworkSpec[] = [];
    let fail = 1;
    const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn() };
    const a = new ClusterNetworkApplier({
      apply: async (s) => {
        if (fail-- > 0) throw new Error('boom');
        applied.push(s);
      },
      compute: () => spec,
      log: log as never,
      signal: ac.signal,
      debounceMs: 1,
      retryMs: 5,
    });
    a.schedule();
    await vi.waitFor(() => expect(applied).toHaveLength(1));
    expect(log.error).toHaveBeenCalledTimes(1);
    a.schedule();
    await new Promise((r) => setTimeout(r, 20));
    expect(applied).toHaveLength(1);
    spec = { self, peers: [], services: [{ key: 'default/x', namespace: 'default', name: 'x', endpointMode: 'vip', networks: [], ingress: [], endpoints: [] }] };
    a.schedule();
    await vi.waitFor(() => expect(applied).toHaveLength(2));
    ac.abort();
    await a.close();
  });
});
