import { describe, expect, it } from 'vitest';
import { parseAgentConfig, parseByteSize } from './config.js';

const defaults = { hostname: 'node1', home: '/root' };
const noFile = (): Promise<string> => Promise.reject(new Error('ENOENT'));

describe('parseAgentConfig', () => {
  it('fills the defaults of DESIGN.md section 9', async () => {
    const c = await parseAgentConfig([], noFile, defaults);
    expect(c).toMatchObject({
      socket: '/run/shoal/agent.sock',
      dataDir: '/var/lib/shoal',
      runDir: '/run/shoal',
      nodeName: 'node1',
      cgroupParent: 'shoal',
      insecureRegistries: [],
      labels: {},
      credentials: '/root/.shoal/credentials.json',
    });
    expect(c.controller).toBeUndefined();
    expect(c.bridge).toBe('shoal0');
    expect(c.bridgeSubnet).toBe('10.88.0.0/16');
  });

  it('takes --vxlan-port (default 4789) and refuses a port out of range', async () => {
    expect((await parseAgentConfig([], noFile, defaults)).vxlanPort).toBe(4789);
    expect((await parseAgentConfig(['--vxlan-port', '8472'], noFile, defaults)).vxlanPort).toBe(8472);
    const err = await parseAgentConfig(['--vxlan-port', '70000'], noFile, defaults).catch((e: unknown) => e);
    expect(String(err)).toMatch(/vxlanPort "70000" must be a port number/);
  });

  it('takes the bridge subnet from the node podCIDR in a cluster unless --bridge-subnet is given', async () => {
    const ctl = ['--controller', 'https://10.0.0.1:6443'];
    expect((await parseAgentConfig([], noFile, defaults)).bridgeSubnetFromNode).toBe(false);
    expect((await parseAgentConfig(ctl, noFile, defaults)).bridgeSubnetFromNode).toBe(true);
    expect((await parseAgentConfig([...ctl, '--bridge-subnet', '10.50.0.0/24'], noFile, defaults)).bridgeSubnetFromNode).toBe(false);
    expect((await parseAgentConfig([...ctl, '--bridge', 'none'], noFile, defaults)).bridgeSubnetFromNode).toBe(false);
  });

  it('takes every controller of an HA cluster, comma-separated, and checks each', async () => {
    const c = await parseAgentConfig(['--controller', 'https://c1:6443, https://c2:6443'], noFile, defaults);
    expect(c.controller).toBe('https://c1:6443,https://c2:6443');
    await expect(parseAgentConfig(['--controller', 'https://c1:6443,c2:6443'], noFile, defaults)).rejects.toThrow(/c2:6443.*https/);
  });

  it('turns bridge networking off with --bridge none, and checks bridge names', async () => {
    expect((await parseAgentConfig(['--bridge', 'none'], noFile, defaults)).bridge).toBeUndefined();
    expect((await parseAgentConfig(['--bridge', 'br-test'], noFile, defaults)).bridge).toBe('br-test');
    await expect(parseAgentConfig(['--bridge', 'a-name-longer-than-fifteen'], noFile, defaults)).rejects.toThrow(/bridge/);
  });

  it('takes repeatable flags and lets flags win over the file', async () => {
    const file = 'data-dir: /srv/shoal\nsocket: /tmp/file.sock\nlabels: {zone: a}\ninsecure-registries: [reg:5000]\nmaxLayerSize: 1g\n';
    const c = await parseAgentConfig(
      ['--config', '/etc/shoal.yaml', '--socket', '/tmp/a.sock', '--label', 'disk=ssd', '--insecure-registry', 'r1:5000', '--insecure-registry', 'r2'],
      async () => file,
      defaults,
    );
    expect(c.socket).toBe('/tmp/a.sock');
    expect(c.dataDir).toBe('/srv/shoal');
    expect(c.labels).toEqual({ zone: 'a', disk: 'ssd' });
    expect(c.insecureRegistries).toEqual(['r1:5000', 'r2']);
    expect(c.maxLayerSize).toBe(1024 ** 3);
  });

  it('reads JSON config files', async () => {
    const c = await parseAgentConfig(['--config', 'x.json'], async () => '{"node-name": "n9", "controller": "https://c:6443"}', defaults);
    expect(c.nodeName).toBe('n9');
    expect(c.controller).toBe('https://c:6443');
  });

  it('names what is wrong', async () => {
    await expect(parseAgentConfig(['--bogus'], noFile, defaults)).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringContaining('--bogus') });
    await expect(parseAgentConfig(['--label', 'nokey'], noFile, defaults)).rejects.toMatchObject({ code: 'Invalid', causes: [{ field: 'label' }] });
    await expect(parseAgentConfig(['--data-dir', 'rel'], noFile, defaults)).rejects.toMatchObject({ code: 'Invalid' });
    await expect(parseAgentConfig(['--config', 'x'], async () => 'unknownThing: 1', defaults)).rejects.toMatchObject({ causes: [{ field: 'unknownThing' }] });
    await expect(parseAgentConfig(['--config', 'x'], noFile, defaults)).rejects.toMatchObject({ message: expect.stringContaining('cannot read config file x') });
    await expect(parseAgentConfig(['--max-layer-size', '12q'], noFile, defaults)).rejects.toMatchObject({ code: 'Invalid' });
    await expect(parseAgentConfig(['--max-image-size', 'big', '--max-image-entries', '-3'], noFile, defaults)).rejects.toMatchObject({
      code: 'Invalid',
      causes: [{ field: 'maxImageSize' }, { field: 'maxImageEntries', message: 'must be a positive integer, got "-3"' }],
    });
  });

  it('caps a pull by image size and entries (defaults 64g and 2,000,000)', async () => {
    const d = await parseAgentConfig([], noFile, defaults);
    expect([d.maxImageSize, d.maxImageEntries]).toEqual([64 * 1024 ** 3, 2_000_000]);
    const c = await parseAgentConfig(['--max-image-size', '2g', '--max-image-entries', '5000'], noFile, defaults);
    expect([c.maxImageSize, c.maxImageEntries]).toEqual([2 * 1024 ** 3, 5000]);
  });

  it('parses byte sizes', () => {
    expect(parseByteSize('512')).toBe(512);
    expect(parseByteSize('2k')).toBe(2048);
    expect(parseByteSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(() => parseByteSize('-1')).toThrow(/invalid size/);
  });
});
