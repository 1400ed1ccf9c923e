import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeNetwork } from './bridge-network.js';
import { FakeNetHost } from './fake-host.js';
import { planRules, vethNames } from './plan.js';

let dir: string;
let host: FakeNetHost;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-net-'));
  host = new FakeNetHost();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const make = () => BridgeNetwork.create({ dataDir: dir, host, chainPrefix: 'TST' });

describe('plan', () => {
  it('veth names fit in 15 characters', () => {
    const n = vethNames('sh', 'abcdef0123456789abcdef');
    expect(n.host).toBe('shhabcdef012345');
    expect(n.peer.length).toBeLessThanOrEqual(15);
    expect(n.peer).not.toBe(n.host);
  });
  it('rules isolate bridges and only write Shoal chains', () => {
    const text = planRules('X', [
      { name: 'a', bridge: 'bra', subnet: '10.1.0.0/24', gateway: '10.1.0.1' },
      { name: 'b', bridge: 'brb', subnet: '10.2.0.0/24', gateway: '10.2.0.1' },
    ], [{ containerId: 'c1', network: 'a', ip: '10.1.0.2', mac: '', hostVeth: 'v', ports: [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], aliases: [], name: 'web' }]);
    expect(text).toContain('-A X-FORWARD -i bra -o brb -j DROP');
    expect(text).toContain('-A X-FORWARD -i brb -o bra -j DROP');
    expect(text).toContain('-A X-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80');
    expect(text).toContain('-A X-POSTROUTING -s 10.1.0.0/24 ! -o bra -j MASQUERADE');
    for (const line of text.split('\n')) if (line.startsWith('-A ')) expect(line.startsWith('-A X-')).toBe(true);
    expect(text.indexOf('-j DROP')).toBeLessThan(text.indexOf('RELATED,ESTABLISHED'));
  });
});

describe('BridgeNetwork (fake host)', () => {
  it('ensure is idempotent and installs jumps once', async () => {
    const bn = await make();
    await bn.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    expect(host.links.has('shoal0')).toBe(true);
    expect(host.calls.find((c) => c.cmd === 'iptables-restore')?.input).toContain('-I PREROUTING 1 -m addrtype --dst-type LOCAL -j TST-DNAT');
    await bn.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    const batches = host.calls.filter((c) => c.cmd === 'ip' && c.args[0] === '-batch');
    expect(batches.filter((b) => b.input.includes('link add shoal0')).length).toBe(1);
    expect(host.sysctls.get('net.ipv4.ip_forward')).toBe('1');
    await expect(bn.ensure({ name: 'shoal0', subnet: '10.77.0.0/16' })).rejects.toMatchObject({ code: 'Conflict' });
  });

  it('moves the default bridge to another subnet (a podCIDR) only with replace and no containers on it', async () => {
    const bn = await make();
    await bn.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    expect([...(host.addrs.get('shoal0') ?? [])]).toEqual(['10.88.0.1/16']);
    await expect(bn.ensure({ name: 'shoal0', subnet: '10.244.3.0/24' })).rejects.toMatchObject({ code: 'Conflict' });
    await bn.attach('c1aaaaaaaaaaaaaa', 100, { name: 'one' });
    await expect(bn.ensure({ name: 'shoal0', subnet: '10.244.3.0/24' }, { replace: true })).rejects.toThrow(/containers still hold addresses/);
    await bn.detach('c1aaaaaaaaaaaaaa');
    const moved = await bn.ensure({ name: 'shoal0', subnet: '10.244.3.0/24' }, { replace: true });
    expect(moved).toMatchObject({ subnet: '10.244.3.0/24', gateway: '10.244.3.1' });
    expect([...(host.addrs.get('shoal0') ?? [])]).toEqual(['10.244.3.1/24']);
    const r = await bn.attach('c2aaaaaaaaaaaaaa', 101, { name: 'two' });
    expect(r.ip).toBe('10.244.3.2');
    expect(host.lastRules()).toContain('-s 10.244.3.0/24');
    expect(host.lastRules()).not.toContain('10.88.0.0/16');
  });

  it('load-balances an ingress port evenly over its local backends and drops the rules with them', async () => {
    const bn = await make();
    await bn.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    await bn.setIngress([{ protocol: 'tcp', port: 8080, backends: [{ ip: '10.88.0.4', port: 80 }, { ip: '10.88.0.2', port: 80 }, { ip: '10.88.0.3', port: 80 }, { ip: '192.168.9.9', port: 80 }] }]);
    const dnat = host.lastRules().split('\n').filter((l) => l.includes('--dport 8080'));
    expect(dnat).toEqual([
      '-A TST-DNAT -p tcp -m tcp --dport 8080 -m statistic --mode random --probability 0.33333333 -j DNAT --to-destination 10.88.0.2:80',
      '-A TST-DNAT -p tcp -m tcp --dport 8080 -m statistic --mode random --probability 0.50000000 -j DNAT --to-destination 10.88.0.3:80',
      '-A TST-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.4:80',
    ]);
    expect(host.lastRules()).toContain('-A TST-FORWARD -d 10.88.0.2/32 -o shoal0 -p tcp -m tcp --dport 80 -j ACCEPT');
    expect(host.lastRules()).not.toContain('192.168.9.9');
    const n = host.calls.filter((c) => c.cmd === 'iptables-restore').length;
    await bn.setIngress([{ protocol: 'tcp', port: 8080, backends: [{ ip: '10.88.0.2', port: 80 }, { ip: '10.88.0.3', port: 80 }, { ip: '10.88.0.4', port: 80 }] }]);
    expect(host.calls.filter((c) => c.cmd === 'iptables-restore').length).toBe(n);
    await bn.setIngress([]);
    expect(host.lastRules()).not.toContain('8080');
    await expect(bn.setIngress([{ protocol: 'tcp', port: 70000, backends: [] }])).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('after a restart, knows the subnet the default bridge had and refuses a silent change', async () => {
    const bn = await make();
    await bn.ensure({ name: 'shoal0', subnet: '10.244.7.0/24' });
    await bn.attach('c3aaaaaaaaaaaaaa', 102, { name: 'three' });
    const again = await make();
    expect(await again.storedSubnet('shoal0')).toBe('10.244.7.0/24');
    expect(await again.storedSubnet('nope')).toBeUndefined();
    await expect(again.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' }, { replace: true })).rejects.toMatchObject({ code: 'Conflict' });
    await again.ensure({ name: 'shoal0', subnet: '10.244.7.0/24' });
  });

  it('does not rewrite the chains when a container without published ports comes or goes', async () => {
    const bn = await make();
    await bn.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    const restores = () => host.calls.filter((c) => c.cmd === 'iptables-restore').length;
    const n = restores();
    await bn.attach('c9aaaaaaaaaaaaaa', 100, { name: 'plain' });
    await bn.detach('c9aaaaaaaaaaaaaa');
    expect(restores()).toBe(n);
    await bn.attach('c9bbbbbbbbbbbbbb', 101, { ports: ['8081:80'] });
    expect(restores()).toBe(n + 1);
    await bn.detach('c9bbbbbbbbbbbbbb');
    expect(restores()).toBe(n + 2);
    expect(host.lastRules()).not.toContain('--dport 8081');
  });

  it('attach publishes ports, refuses taken ports with nothing half-made, detach cleans up', async () => {
    const bn = await make();
    await bn.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    const r = await bn.attach('c1aaaaaaaaaaaaaa', 100, { ports: ['8080:80', '53/udp'], name: 'web' });
    expect(r).toMatchObject({ ip: '10.88.0.2', gateway: '10.88.0.1', prefixLen: 16 });
    expect(r.ports[1]?.hostPort).toBe(40000);
    expect(host.lastRules()).toContain('--dport 8080 -j DNAT --to-destination 10.88.0.2:80');
    expect(host.calls.some((c) => c.cmd === 'nsenter' && c.input.includes('route add default via 10.88.0.1'))).toBe(true);
    expect(await bn.attach('c1aaaaaaaaaaaaaa', 100, {})).toEqual(r);

    const before = host.links.size;
    await expect(bn.attach('c2bbbbbbbbbbbbbb', 101, { ports: ['8080:81'] })).rejects.toMatchObject({ code: 'Conflict' });
    host.busyPorts.add('9090/tcp');
    await expect(bn.attach('c3cccccccccccccc', 102, { ports: ['9090:80'] })).rejects.toMatchObject({ code: 'Conflict' });
    host.failOn = (cmd) => cmd === 'nsenter';
    await expect(bn.attach('c4dddddddddddddd', 103, {})).rejects.toMatchObject({ code: 'Internal' });
    host.failOn = undefined;
    expect(host.links.size).toBe(before);
    const next = await bn.attach('c5eeeeeeeeeeeeee', 104, {});
    expect(next.ip).toBe('10.88.0.4'); // .3 was reserved then released by the failed attach: next-fit moves on
    expect(bn.lookup('shoal0', 'web')).toEqual(['10.88.0.2']);

    await bn.detach('c1aaaaaaaaaaaaaa');
    expect(host.lastRules()).not.toContain('8080');
    expect([...host.links.keys()].some((l) => l.startsWith('shhc1'))).toBe(false);
  });

  it('state survives a restart and sync drops leftovers', async () => {
    const bn = await make();
    await bn.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    await bn.attach('keep000000000000', 1, { ports: ['8081:80'] });
    await bn.attach('gone000000000000', 2, { ports: ['8082:80'] });
    host.links.set('shhstale0000000', {});
    const again = await make();
    await again.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    const { removed } = await again.sync(['keep000000000000']);
    expect(removed).toEqual(['gone000000000000']);
    expect(host.lastRules()).toContain('8081');
    expect(host.lastRules()).not.toContain('8082');
    expect(host.links.has('shhstale0000000')).toBe(false);
    expect(host.links.has('shhkeep00000000')).toBe(true);
    const r = await again.attach('new0000000000000', 3, {});
    expect(r.ip).not.toBe(again.endpointOf('keep000000000000')?.ip);
  });

  it('user networks get their own bridge and /24, persist, and remove everything', async () => {
    const bn = await make();
    const a = await bn.createNetwork('front');
    const b = await bn.createNetwork('back');
    expect(a.subnet).toBe('10.89.0.0/24');
    expect(b.subnet).toBe('10.89.1.0/24');
    expect(a.bridge).toMatch(/^shoal-[0-9a-f]{9}$/);
    await expect(bn.createNetwork('front')).rejects.toMatchObject({ code: 'AlreadyExists' });
    await bn.attach('x000000000000000', 5, { network: 'front', aliases: ['db'] });
    expect((await make()).listNetworks().map((n) => n.name)).toEqual(['back', 'front']);
    await expect(bn.removeNetwork('front')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await bn.removeNetwork('front', { force: true });
    expect(host.links.has(a.bridge)).toBe(false);
    host.saved = { nat: ':TST-DNAT - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j TST-DNAT\n', filter: '-A FORWARD -j TST-FORWARD\n' };
    await bn.removeNetwork('back');
    const last = host.calls.filter((c) => c.cmd === 'iptables-restore').pop()?.input ?? '';
    expect(last).toContain('-D PREROUTING -m addrtype --dst-type LOCAL -j TST-DNAT');
    expect(last).toContain('-X TST-FORWARD');
    await expect(bn.removeNetwork('back')).rejects.toMatchObject({ code: 'NotFound' });
  });
});
