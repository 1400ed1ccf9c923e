import { describe, expect, it } from 'vitest';
import { createClusterDataplane } from './cluster-dataplane.js';
import type { ClusterNetworkSpec } from './cluster-spec.js';
import { FakeNetHost } from './fake-host.js';

/** FakeNetHost plus an underlay interface holding the node's address. */
class Host extends FakeNetHost {
  override run(cmd: string, args: string[], input = ''): Promise<string> {
    if (cmd === 'ip' && args.join(' ') === '-j -4 addr show') {
      this.calls.push({ cmd, args, input });
      return Promise.resolve(JSON.stringify([{ ifname: 'eth0', mtu: 1500, addr_info: [{ local: '192.168.1.1' }] }]));
    }
    return super.run(cmd, args, input);
  }
}

const spec = (endpoints: string[]): ClusterNetworkSpec => ({
  self: { nodeName: 'n1', podCIDR: '10.244.0.0/24', address: '192.168.1.1', vtepMAC: '0e:00:00:00:00:01', port: 4789 },
  peers: [{ nodeName: 'n2', podCIDR: '10.244.1.0/24', address: '192.168.1.2', vtepMAC: '0e:00:00:00:00:02', port: 4789 }],
  services: [{ key: 'default/web', namespace: 'default', name: 'web', endpointMode: 'vip', virtualIP: '10.96.0.3', networks: ['default/default'], ingress: [], endpoints: endpoints.map((ip, i) => ({ ip, taskName: `web.${i}.x`, nodeName: 'n2' })) }],
});

describe('cluster dataplane (shell, fake host)', () => {
  it('programs the device and peers once; an endpoint change only rewrites sets and chains', async () => {
    const host = new Host();
    const dp = createClusterDataplane({ host, chainPrefix: 'SHOAL', bridge: 'shoal0' });
    await dp.apply(spec(['10.244.1.2']));
    const first = host.calls.map((c) => `${c.cmd} ${c.args.join(' ')}`);
    expect(first.some((c) => c.startsWith('ip -batch'))).toBe(true);
    const add = host.calls.find((c) => c.cmd === 'ip' && c.input.includes('type vxlan'));
    expect(add?.input).toContain('link add shoal-vx type vxlan id 4096 dstport 4789 local 192.168.1.1 nolearning');
    expect(add?.input).toContain('link set shoal-vx mtu 1450');
    expect(host.calls.find((c) => c.cmd === 'bridge' && c.args[0] === '-batch')?.input).toContain('fdb append 0e:00:00:00:00:02 dev shoal-vx dst 192.168.1.2 port 4789 self permanent');
    expect(host.sysctls.get('net.ipv4.conf.shoal-vx.rp_filter')).toBe('2');
    host.calls.length = 0;
    await dp.apply(spec(['10.244.1.2', '10.244.1.3']));
    const second = host.calls.map((c) => c.cmd);
    expect(second).toEqual(['ipset', 'iptables-restore']);
    expect(host.calls[1]?.input).toContain('--to-destination 10.244.1.3');
    expect(host.calls[1]?.input).not.toContain('-I FORWARD');
    expect(dp.stats()).toMatchObject({ applies: 2, failures: 0, peers: 1, endpoints: 2 });
  });

  it('reads everything back after a failed apply', async () => {
    const host = new Host();
    const dp = createClusterDataplane({ host, chainPrefix: 'SHOAL', bridge: 'shoal0' });
    await dp.apply(spec(['10.244.1.2']));
    host.failOn = (cmd) => cmd === 'iptables-restore';
    await expect(dp.apply(spec([]))).rejects.toThrow();
    host.failOn = undefined;
    host.calls.length = 0;
    await dp.apply(spec([]));
    expect(host.calls.some((c) => c.cmd === 'iptables-save')).toBe(true);
    expect(host.calls.some((c) => c.cmd === 'bridge')).toBe(true);
    expect(dp.stats().failures).toBe(1);
  });
});
