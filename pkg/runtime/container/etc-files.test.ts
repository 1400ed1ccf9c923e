import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostnameFile, hostsEntry, hostsFile, parseResolvConf, resolvConfFile, writeEtcFiles } from './etc-files.js';

describe('etc files', () => {
  it('hosts has localhost, the hostname and the container line with aliases', () => {
    const h = hostsFile({ hostname: 'web', entries: [hostsEntry('10.88.0.2', ['web', 'w1'])] });
    expect(h).toContain('127.0.0.1\tlocalhost\n');
    expect(h.endsWith('10.88.0.2\tweb w1\n')).toBe(true);
    expect(h).toBe('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tweb\n10.88.0.2\tweb w1\n');
    expect(hostsFile({ hostname: 'abc' })).toBe('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tabc\n');
    expect(hostnameFile('web')).toBe('web\n');
  });
  it('a hosts entry drops empty names and repeats', () => {
    expect(hostsEntry('10.0.0.5', ['0123456789ab', 'web', '', 'web', 'w1'])).toBe('10.0.0.5\t0123456789ab web w1');
  });
  it('parses nameservers and keeps the other lines verbatim', () => {
    const host = 'nameserver 127.0.0.53\nnameserver 1.1.1.1\n# c\nsearch corp\noptions edns0\n  nameserver ::1\nnameserver \n';
    expect(parseResolvConf(host)).toEqual({ nameservers: ['127.0.0.53', '1.1.1.1', '::1'], other: ['# c', 'search corp', 'options edns0'] });
  });
  it('resolv.conf: the chosen nameservers, then the host lines that are not nameservers', () => {
    const host = 'nameserver 127.0.0.53\nnameserver 1.1.1.1\n# c\nsearch corp\noptions edns0\nnameserver ::1\n';
    expect(resolvConfFile(host, ['1.1.1.1'])).toBe('nameserver 1.1.1.1\n# c\nsearch corp\noptions edns0\n');
    expect(resolvConfFile('nameserver 8.8.8.8', ['10.89.0.1'])).toBe('nameserver 10.89.0.1\n');
    expect(resolvConfFile('nameserver 127.0.0.53\n', [])).toBe('');
  });
});

describe('writeEtcFiles', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  it('copies the host resolv.conf until the network chose nameservers, and survives a missing one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-etc-'));
    const host = join(dir, 'host-resolv.conf');
    await writeFile(host, 'nameserver 127.0.0.53\nsearch corp\n');
    await writeEtcFiles(dir, { hostname: 'h1', hostResolvConf: host });
    expect(await readFile(join(dir, 'hostname'), 'utf8')).toBe('h1\n');
    expect(await readFile(join(dir, 'hosts'), 'utf8')).toBe(hostsFile({ hostname: 'h1' }));
    expect(await readFile(join(dir, 'resolv.conf'), 'utf8')).toBe('nameserver 127.0.0.53\nsearch corp\n');
    await writeEtcFiles(dir, { hostname: 'h1', hostResolvConf: host, hostsEntries: ['10.0.0.2\th1'], dnsServers: ['10.0.0.1'] });
    expect(await readFile(join(dir, 'hosts'), 'utf8')).toMatch(/\n10\.0\.0\.2\th1\n$/);
    expect(await readFile(join(dir, 'resolv.conf'), 'utf8')).toBe('nameserver 10.0.0.1\nsearch corp\n');
    await writeEtcFiles(dir, { hostname: 'h1', hostResolvConf: join(dir, 'missing') });
    expect(await readFile(join(dir, 'resolv.conf'), 'utf8')).toBe('');
  });

  it('replaces the files atomically before the start (mode 0644), rewrites the mounted ones in place', async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-etc-'));
    await writeEtcFiles(dir, { hostname: 'h1', hostResolvConf: join(dir, 'missing') });
    const before = await stat(join(dir, 'hosts'));
    expect(before.mode & 0o777).toBe(0o644);
    await writeEtcFiles(dir, { hostname: 'h1', hostResolvConf: join(dir, 'missing'), hostsEntries: ['10.0.0.2\th1'] }, 'in-place');
    expect((await stat(join(dir, 'hosts'))).ino).toBe(before.ino); // a bind mount would still see it
    expect(await readFile(join(dir, 'hosts'), 'utf8')).toMatch(/10\.0\.0\.2\th1\n$/);
    await writeEtcFiles(dir, { hostname: 'h2', hostResolvConf: join(dir, 'missing') });
    expect((await stat(join(dir, 'hosts'))).ino).not.toBe(before.ino);
    expect((await readdir(dir)).sort()).toEqual(['hostname', 'hosts', 'resolv.conf']);
  });
});
