import { describe, expect, it } from 'vitest';
import { parseControllerConfig } from './config.js';

const noFile = (): Promise<string> => Promise.reject(new Error('ENOENT'));
const files = (m: Record<string, string>) => (p: string) => (p in m ? Promise.resolve(m[p] as string) : Promise.reject(new Error(`ENOENT: ${p}`)));

describe('parseControllerConfig', () => {
  it('applies the defaults of DESIGN.md section 9', async () => {
    expect(await parseControllerConfig([], noFile)).toEqual({
      listenHost: '0.0.0.0',
      listenPort: 6443,
      dataDir: '/var/lib/shoal/controller',
      etcd: undefined,
      clusterCIDR: '10.244.0.0/16',
      serviceCIDR: '10.96.0.0/16',
      nodeTimeoutMs: 5000,
      leaderLeaseSeconds: 3,
      restore: undefined,
      clusterKeyFile: undefined,
      certExpiryMs: 90 * 86_400_000,
      allowedHostPorts: expect.anything(),
      auditLog: undefined,
      tlsSans: [],
    });
  });

  it('takes --allowed-host-ports as ports and ranges, and names a bad one', async () => {
    const c = await parseControllerConfig(['--allowed-host-ports', '22, 2379-2380'], noFile);
    expect([22, 2379, 2380, 2381].map((p) => c.allowedHostPorts.has(p))).toEqual([true, true, true, false]);
    expect((await parseControllerConfig([], noFile)).allowedHostPorts.has(22)).toBe(false);
    await expect(parseControllerConfig(['--allowed-host-ports', '80,90-70'], noFile)).rejects.toThrow(/allowed-host-ports: "90-70" is not a port/);
  });

  it('takes allowed-host-ports from the config file as a string, a number or a list; the flag wins', async () => {
    const has = (c: { allowedHostPorts: { has(p: number): boolean } }): number[] => [22, 80, 2379, 2380, 4789].filter((p) => c.allowedHostPorts.has(p));
    const read = files({
      '/list.yaml': 'allowed-host-ports: [22, "2379-2380"]\n',
      '/text.yaml': 'allowedHostPorts: "80, 4789"\n',
      '/num.yaml': 'allowedHostPorts: 22\n',
      '/bad.yaml': 'allowed-host-ports: [22, 70000]\n',
    });
    expect(has(await parseControllerConfig(['--config', '/list.yaml'], read))).toEqual([22, 2379, 2380]);
    expect(has(await parseControllerConfig(['--config', '/text.yaml'], read))).toEqual([80, 4789]);
    expect(has(await parseControllerConfig(['--config', '/num.yaml'], read))).toEqual([22]);
    expect(has(await parseControllerConfig(['--config', '/list.yaml', '--allowed-host-ports', '4789'], read))).toEqual([4789]);
    await expect(parseControllerConfig(['--config', '/bad.yaml'], read)).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/allowed-host-ports: "70000" is not a port/) });
    await expect(parseControllerConfig(['--allowed-host-ports', 'ssh'], noFile)).rejects.toThrow(/allowed-host-ports: "ssh" is not a port/);
  });

  it('takes --tls-san names and refuses what is not one', async () => {
    expect((await parseControllerConfig(['--tls-san', 'ctl.example.com, 10.0.0.9'], noFile)).tlsSans).toEqual(['ctl.example.com', '10.0.0.9']);
    await expect(parseControllerConfig(['--tls-san', 'bad name'], noFile)).rejects.toThrow(/tls-san: "bad name"/);
  });

  it('takes --cluster-key-file and --cert-expiry (days or a duration) within bounds', async () => {
    const c = await parseControllerConfig(['--cluster-key-file', '/k', '--cert-expiry', '30d'], noFile);
    expect(c.clusterKeyFile).toBe('/k');
    expect(c.certExpiryMs).toBe(30 * 86_400_000);
    expect((await parseControllerConfig(['--cert-expiry', '2h'], noFile)).certExpiryMs).toBe(7_200_000);
    await expect(parseControllerConfig(['--cert-expiry', '1m'], noFile)).rejects.toThrow(/cert-expiry: "1m" must be between 1h and 3650d/);
    await expect(parseControllerConfig(['--cert-expiry', 'soon'], noFile)).rejects.toThrow(/cert-expiry/);
  });

  it('takes --service-cidr and refuses one that overlaps the cluster CIDR or is too small', async () => {
    expect((await parseControllerConfig(['--service-cidr', '10.100.0.0/20'], noFile)).serviceCIDR).toBe('10.100.0.0/20');
    const overlap = await parseControllerConfig(['--service-cidr', '10.244.128.0/20'], noFile).catch((e: unknown) => e);
    expect(String(overlap)).toMatch(/service-cidr: 10\.244\.128\.0\/20 overlaps the cluster CIDR/);
    const small = await parseControllerConfig(['--service-cidr', '10.96.0.0/30'], noFile).catch((e: unknown) => e);
    expect(String(small)).toMatch(/too small/);
  });

  it('reads flags', async () => {
    const c = await parseControllerConfig(
      ['--listen', '127.0.0.1:7000', '--data-dir', '/tmp/x', '--etcd', 'http://a:2379, http://b:2379', '--cluster-cidr', '10.9.0.0/16', '--node-timeout', '1500ms'],
      noFile,
    );
    expect(c).toMatchObject({ listenHost: '127.0.0.1', listenPort: 7000, dataDir: '/tmp/x', etcd: ['http://a:2379', 'http://b:2379'], clusterCIDR: '10.9.0.0/16', nodeTimeoutMs: 1500 });
  });

  it('reads a YAML config file and lets flags win', async () => {
    const read = files({ '/c.yaml': 'listen: 127.0.0.1:7001\ndata-dir: /from/file\netcd: [http://e:2379]\nnodeTimeout: 10s\n' });
    const c = await parseControllerConfig(['--config', '/c.yaml', '--data-dir', '/from/flag'], read);
    expect(c).toMatchObject({ listenPort: 7001, dataDir: '/from/flag', etcd: ['http://e:2379'], nodeTimeoutMs: 10_000 });
  });

  it('reads durations as the API does: units required in text, a config-file number is seconds', async () => {
    await expect(parseControllerConfig(['--node-timeout', '5'], noFile)).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringContaining('node-timeout') });
    const c = await parseControllerConfig(['--config', '/c.yaml'], files({ '/c.yaml': 'nodeTimeout: 7\n' }));
    expect(c.nodeTimeoutMs).toBe(7000);
  });

  it('reports every bad setting at once as InvalidArgument', async () => {
    const err = await parseControllerConfig(['--listen', 'nope', '--etcd', 'ftp://x', '--cluster-cidr', '10.0.0.0/40', '--node-timeout', 'soon'], noFile).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'InvalidArgument' });
    const msg = (err as Error).message;
    for (const s of ['listen', 'etcd', 'cluster-cidr', 'node-timeout']) expect(msg).toContain(s);
  });

  it('takes --restore for the embedded etcd only, and only as a flag', async () => {
    expect((await parseControllerConfig(['--restore', '/b/snap.db', '--data-dir', '/new'], noFile)).restore).toBe('/b/snap.db');
    const err = await parseControllerConfig(['--restore', '/b/snap.db', '--etcd', 'http://a:2379'], noFile).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/restore: .*cannot be used with --etcd/) });
    await expect(parseControllerConfig(['--config', '/c.yaml'], files({ '/c.yaml': 'restore: /b/snap.db' }))).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('rejects unknown flags, unknown file keys and unreadable files', async () => {
    await expect(parseControllerConfig(['--bogus'], noFile)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(parseControllerConfig(['--config', '/c.yaml'], files({ '/c.yaml': 'colour: blue' }))).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(parseControllerConfig(['--config', '/missing.yaml'], noFile)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
