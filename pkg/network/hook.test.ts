import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeNetwork } from './bridge-network.js';
import { FakeNetHost } from './fake-host.js';
import { bridgeNetworkHook } from './hook.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-hook-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bridgeNetworkHook', () => {
  it('attaches bridge containers, ignores none/host, detaches', async () => {
    const host = new FakeNetHost();
    const net = await BridgeNetwork.create({ dataDir: dir, host, chainPrefix: 'HK' });
    await net.ensure({ name: 'shoal0', subnet: '10.88.0.0/16' });
    const hook = bridgeNetworkHook(net, { hostResolvConf: () => 'nameserver 127.0.0.53\nnameserver 9.9.9.9\n', optionsOf: () => ({ ports: ['8080:80'] }) });
    const a = await hook.attach({ id: 'abcdef0123456789', name: 'web', networkMode: 'bridge' }, 42);
    expect(a.networks['shoal0']).toEqual({ IPAddress: '10.88.0.2', Gateway: '10.88.0.1', MacAddress: '02:5e:0a:58:00:02', IPPrefixLen: 16 });
    expect(a.dnsServers).toEqual(['9.9.9.9']);
    expect(a.hostsEntries).toEqual(['10.88.0.2\tabcdef012345 web']);
    expect(await hook.attach({ id: 'x', name: 'h', networkMode: 'host' }, 43)).toEqual({ networks: {} });
    await hook.detach({ id: 'abcdef0123456789', name: 'web', networkMode: 'bridge' });
    expect(net.endpointOf('abcdef0123456789')).toBeUndefined();
    expect(host.lastRules()).not.toContain('8080');
  });
});
