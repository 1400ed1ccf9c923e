import { describe, expect, it } from 'vitest';
import { clusterRulesText, meshMark, networkSetName, planLinks, planSets, vtepAddressOf, type LinkState } from './cluster-plan.js';
import type { ClusterNetworkSpec } from './cluster-spec.js';

const names = { prefix: 'SHOAL', bridge: 'shoal0', vx: 'shoal-vx' };
const spec: ClusterNetworkSpec = {
  self: { nodeName: 'n1', podCIDR: '10.244.0.0/24', address: '192.168.1.1', vtepMAC: '0e:00:00:00:00:01', port: 4789 },
  peers: [
    { nodeName: 'n2', podCIDR: '10.244.1.0/24', address: '192.168.1.2', vtepMAC: '0e:00:00:00:00:02', port: 4789 },
    { nodeName: 'n3', podCIDR: '10.244.2.0/24', address: '192.168.1.3', vtepMAC: '0e:00:00:00:00:03', port: 4789 },
  ],
  services: [
    {
      key: 'default/web', namespace: 'default', name: 'web', endpointMode: 'vip', virtualIP: '10.96.0.3', networks: ['default/default'],
      ingress: [{ protocol: 'tcp', port: 8080, targetPort: 80 }],
      endpoints: [{ ip: '10.244.0.5', taskName: 'web.1.a', nodeName: 'n1' }, { ip: '10.244.1.2', taskName: 'web.2.b', nodeName: 'n2' }, { ip: '10.244.2.2', taskName: 'web.3.c', nodeName: 'n3' }],
    },
    { key: 'default/idle', namespace: 'default', name: 'idle', endpointMode: 'vip', virtualIP: '10.96.0.4', networks: ['default/other'], ingress: [], endpoints: [] },
  ],
};
const empty = { nat: '', filter: '', mangle: '' };
const noLinks = (): LinkState => ({ routes: new Map(), neigh: new Map(), fdb: new Map(), rules: new Map() });

describe('cluster plan', () => {
  it('spreads a VIP and a mesh port evenly over every endpoint, and isolates only local endpoints', () => {
    const { text, rules } = clusterRulesText(spec, names, empty);
    expect(text).toContain('-A SHOAL-SVC -d 10.96.0.3/32 -j SHOAL-S-');
    expect(text).toMatch(/--probability 0\.3333333333 -j DNAT --to-destination 10\.244\.0\.5\n/);
    expect(text).toMatch(/--probability 0\.5000000000 -j DNAT --to-destination 10\.244\.1\.2\n/);
    expect(text).toMatch(/-A SHOAL-S-[0-9a-f]{8} -j DNAT --to-destination 10\.244\.2\.2\n/);
    expect(text).toContain('-A SHOAL-MESH -p tcp --dport 8080 -j SHOAL-M-');
    expect(text).toContain('--to-destination 10.244.2.2:80');
    expect(text).toContain('-A SHOAL-SVC-REJECT -d 10.96.0.4/32 -j REJECT');
    expect(text).toContain(`-A SHOAL-ISOLATE -d 10.244.0.5/32 -m set --match-set ${networkSetName('SHOAL', 'default/default')} src -j RETURN`);
    expect(text).toContain('-A SHOAL-ISOLATE -d 10.244.0.5/32 -m set --match-set SHOAL-podnets src -j DROP');
    expect(text).not.toContain('-A SHOAL-ISOLATE -d 10.244.1.2/32');
    expect(text).toContain('-A SHOAL-OVL-POST -s 10.244.0.5/32 -d 10.244.0.5/32 -j MASQUERADE');
    expect(text).toContain(`--mac-source 0e:00:00:00:00:02 -j CONNMARK --set-xmark 0x${meshMark('10.244.1.0/24').toString(16)}/0xfff0000`);
    // Jumps go in first, in order, when missing.
    expect(text).toContain('-I FORWARD 1 -j SHOAL-ISOLATE\n-I FORWARD 2 -j SHOAL-OVL-FWD');
    expect(rules).toBeGreaterThan(10);
  });

  it('keeps jumps that are there, and deletes chains of services that are gone', () => {
    const saved = {
      nat: ':SHOAL-S-deadbeef - [0:0]\n-A PREROUTING -j SHOAL-SVC\n-A PREROUTING -m addrtype --dst-type LOCAL -j SHOAL-MESH\n-A OUTPUT -j SHOAL-SVC\n-A OUTPUT -m addrtype --dst-type LOCAL -j SHOAL-MESH\n-A POSTROUTING -j SHOAL-OVL-POST\n',
      filter: '', mangle: '',
    };
    const { text } = clusterRulesText(spec, names, saved);
    const nat = text.split('COMMIT')[0]!;
    expect(nat).not.toContain('-I PREROUTING');
    expect(nat).toContain('-X SHOAL-S-deadbeef');
  });

  it('sets: pod CIDRs, node VTEP addresses, and each network with its members', () => {
    const sets = planSets(spec, 'SHOAL');
    expect(sets.get('SHOAL-podnets')?.members).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24']);
    expect(sets.get('SHOAL-nodes')?.members).toEqual(['10.244.0.0', '10.244.1.0', '10.244.2.0']);
    expect(sets.get(networkSetName('SHOAL', 'default/default'))?.members).toEqual(['10.244.0.5', '10.244.1.2', '10.244.2.2']);
    for (const n of sets.keys()) expect(`${n}-t`.length).toBeLessThanOrEqual(31);
  });

  it('links: adds what is missing, changes what moved, removes peers that left', () => {
    const first = planLinks(spec.peers, noLinks(), 'shoal-vx', 'shoal0');
    expect(first.ip).toContain('route replace 10.244.1.0/24 via 10.244.1.0 dev shoal-vx onlink');
    expect(first.ip).toContain('neigh replace 10.244.1.0 lladdr 0e:00:00:00:00:02 dev shoal-vx nud permanent');
    expect(first.bridge).toContain('fdb append 0e:00:00:00:00:02 dev shoal-vx dst 192.168.1.2 port 4789 self permanent');
    const cur: LinkState = {
      routes: new Map([['10.244.1.0/24', '10.244.1.0'], ['10.244.2.0/24', '10.244.2.0'], ['10.244.9.0/24', '10.244.9.0']]),
      neigh: new Map([['10.244.1.0', '0e:00:00:00:00:02'], ['10.244.2.0', '0e:00:00:00:00:03'], ['10.244.9.0', '0e:00:00:00:00:09']]),
      fdb: new Map([['0e:00:00:00:00:02', '192.168.1.2 4789'], ['0e:00:00:00:00:03', '192.168.1.99 4789'], ['0e:00:00:00:00:09', '192.168.1.9 4789']]),
      rules: new Map(),
    };
    const next = planLinks(spec.peers, cur, 'shoal-vx', 'shoal0');
    expect(next.ip).toEqual(['route del 10.244.9.0/24 dev shoal-vx', 'neigh del 10.244.9.0 dev shoal-vx']);
    expect(next.bridge).toEqual([
      'fdb del 0e:00:00:00:00:03 dev shoal-vx self', 'fdb append 0e:00:00:00:00:03 dev shoal-vx dst 192.168.1.3 port 4789 self permanent', 'fdb del 0e:00:00:00:00:09 dev shoal-vx self',
    ]);
    expect(vtepAddressOf('10.244.7.0/24')).toBe('10.244.7.0');
  });
});
