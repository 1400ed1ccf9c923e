import { describe, expect, it } from 'vitest';
import type { ClusterNetworkSpec } from '../cluster-spec.js';
import { ClusterRecords } from './cluster-records.js';

const self = { nodeName: 'n1', podCIDR: '10.244.0.0/24', address: '192.168.1.1', vtepMAC: '0e:00:00:00:00:01', port: 4789 };
const spec: ClusterNetworkSpec = {
  self, peers: [],
  services: [
    { key: 'default/client', namespace: 'default', name: 'client', endpointMode: 'vip', virtualIP: '10.96.0.2', networks: ['default/default'], ingress: [], endpoints: [{ ip: '10.244.0.9', taskName: 'client.1.x', nodeName: 'n1' }] },
    { key: 'default/lonely', namespace: 'default', name: 'lonely', endpointMode: 'vip', virtualIP: '10.96.0.4', networks: ['default/other'], ingress: [], endpoints: [{ ip: '10.244.0.10', taskName: 'lonely.1.y', nodeName: 'n1' }] },
    {
      key: 'default/web', namespace: 'default', name: 'web', endpointMode: 'vip', virtualIP: '10.96.0.3', networks: ['default/default'], ingress: [],
      endpoints: [{ ip: '10.244.1.2', taskName: 'web.1.a', nodeName: 'n2' }, { ip: '10.244.2.2', taskName: 'web.2.b', nodeName: 'n3' }],
    },
    { key: 'default/db', namespace: 'default', name: 'db', endpointMode: 'dnsrr', networks: ['default/default'], ingress: [], endpoints: [{ ip: '10.244.1.7', taskName: 'db.1.c', nodeName: 'n2' }] },
  ],
};

describe('ClusterRecords', () => {
  const r = new ClusterRecords(spec);
  it('answers service, tasks.service and task names to an asker on the same network', () => {
    expect(r.lookup('web', '10.244.0.9')).toEqual(['10.96.0.3']);
    expect(r.lookup('WEB.default.', '10.244.0.9')).toEqual(['10.96.0.3']);
    expect(r.lookup('tasks.web', '10.244.0.9')).toEqual(['10.244.1.2', '10.244.2.2']);
    expect(r.lookup('web.2.b', '10.244.0.9')).toEqual(['10.244.2.2']);
    expect(r.lookup('db', '10.244.0.9')).toEqual(['10.244.1.7']);
  });
  it('answers nothing across networks, to strangers, or for unknown names', () => {
    expect(r.lookup('web', '10.244.0.10')).toEqual([]);
    expect(r.lookup('tasks.web', '10.244.0.10')).toEqual([]);
    expect(r.lookup('web', '10.88.0.5')).toEqual([]);
    expect(r.lookup('nope', '10.244.0.9')).toEqual([]);
    expect(r.lookup('lonely', '10.244.0.10')).toEqual(['10.96.0.4']);
  });
});
