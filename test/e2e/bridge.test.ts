/**
 * Bridge networking through a real agent started with `--bridge`: published ports from the
 * host, name resolution on a user network, isolation between networks, and nothing of the
 * test's left on the host afterwards. Unique bridge names, subnets and chain prefix per run.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtCommandsPresent, freeLoopbackPort, startTestAgent, TempDirs, type TestAgent } from './harness/index.js';

const isRoot = process.getuid?.() === 0;
const haveTools = (() => {
  try {
    execFileSync('iptables-save', ['-t', 'nat'], { stdio: 'ignore' });
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const r = randomBytes(3).toString('hex');
const BRIDGE = `shb${r}`;
const PREFIX = `SHT${r.toUpperCase()}`;
const SUBNET = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]! % 250}.0/24`;
const NET = `net${r}`;
// Another "host": a network namespace joined to this one by a veth pair on a /30 of its own.
const PEER_NS = `shtn${r}`;
const PEER_VETH = `shtv${r}`;
const PEER_NET = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]! % 250}`;
const PEER_HOST_IP = `${PEER_NET}.1`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}
function links(): string[] {
  return sh('ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter(Boolean);
}
function rulesOfTest(): string[] {
  return [...sh('iptables-save', ['-t', 'nat']).split('\n'), ...sh('iptables-save', ['-t', 'filter']).split('\n')].filter((l) => l.includes(PREFIX));
}
function hostAddress(): string | undefined {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === 'lo' || name.startsWith('sh')) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  return undefined;
}

async function fetchText(url: string, timeoutMs = 3000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return res.text();
}

describe.skipIf(!isRoot || !haveTools || !builtCommandsPresent())('bridge networking through shoal-agent', () => {
  const tmp = new TempDirs();
  let agent: TestAgent | undefined;
  let linksBefore: Set<string> = new Set();

  beforeAll(async () => {
    const root = await tmp.make('shoal-bridge-');
    const rootfs = join(root, 'rootfs');
    for (const d of ['bin', 'etc', 'www', 'tmp', 'proc', 'dev', 'sys']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    for (const a of ['sh', 'httpd', 'wget', 'sleep', 'cat', 'echo', 'hostname']) symlinkSync('busybox', join(rootfs, 'bin', a));
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
    writeFileSync(join(rootfs, 'www/index.html'), `hello from ${r}\n`);
    const tar = join(root, 'rootfs.tar');
    execFileSync('tar', ['-C', rootfs, '--numeric-owner', '-cf', tar, '.']);
    linksBefore = new Set(links());
    agent = await startTestAgent({ args: ['--bridge', BRIDGE, '--bridge-subnet', SUBNET, '--bridge-chain-prefix', PREFIX] });
    const imp = await agent.ctl(['import', tar, `bb${r}:1`]);
    expect(imp.code, imp.stderr).toBe(0);
  });

  afterAll(async () => {
    if (agent) {
      const ids = (await agent.ctl(['ps', '-a', '-q'])).stdout.split(/\s+/).filter(Boolean);
      if (ids.length) await agent.ctl(['rm', '-f', ...ids]);
      await agent.ctl(['network', 'rm', '-f', NET]);
      await agent.stop();
    }
    // The default bridge outlives the agent by design (containers keep their network); this
    // test owns its bridge and chains, so it removes them: jumps first, then the chains.
    for (const table of ['nat', 'filter']) {
      const rules = sh('iptables', ['-t', table, '-S']).split('\n');
      for (const rule of rules.filter((l) => l.startsWith('-A ') && l.includes(`-j ${PREFIX}`) && !l.startsWith(`-A ${PREFIX}`))) {
        try {
          execFileSync('iptables', ['-t', table, ...rule.replace(/^-A /, '-D ').split(' ')], { stdio: 'ignore' });
        } catch {
          /* already gone */
        }
      }
      for (const chain of rules.filter((l) => l.startsWith(`-N ${PREFIX}`)).map((l) => l.slice(3))) {
        execFileSync('iptables', ['-t', table, '-F', chain], { stdio: 'ignore' });
        execFileSync('iptables', ['-t', table, '-X', chain], { stdio: 'ignore' });
      }
    }
    for (const l of links().filter((n) => n === BRIDGE || n === PEER_VETH)) execFileSync('ip', ['link', 'del', l], { stdio: 'ignore' });
    try {
      execFileSync('ip', ['netns', 'del', PEER_NS], { stdio: 'ignore' });
    } catch {
      /* not created */
    }
    await tmp.cleanup();
  });

  it('publishes a port reachable from 127.0.0.1, the host address and another (netns) host', async () => {
    const a = agent!;
    const port = await freeLoopbackPort();
    const run = await a.ctl(['run', '-d', '--name', `web${r}`, '-p', `${port}:80`, `bb${r}:1`, 'httpd', '-f', '-p', '80', '-h', '/www']);
    expect(run.code, run.stderr).toBe(0);
    const inspect = JSON.parse((await a.ctl(['inspect', `web${r}`])).stdout) as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }[];
    const ip = Object.values(inspect[0]!.NetworkSettings.Networks)[0]?.IPAddress ?? '';
    expect(ip.split('.').slice(0, 3).join('.')).toBe(SUBNET.split('.').slice(0, 3).join('.'));
    expect((await a.ctl(['ps'])).stdout).toContain(`${port}->80/tcp`);
    let body = '';
    for (let i = 0; i < 30 && !body.includes(r); i++) {
      body = await fetchText(`http://127.0.0.1:${port}/`).catch(() => '');
      if (!body.includes(r)) await new Promise((res) => setTimeout(res, 100));
    }
    expect(body).toContain(`hello from ${r}`);
    expect(await fetchText(`http://${ip}:80/`)).toContain(r);
    const host = hostAddress();
    if (host) expect(await fetchText(`http://${host}:${port}/`)).toContain(r);
    // From another host (a network namespace routed to this one).
    execFileSync('ip', ['netns', 'add', PEER_NS]);
    execFileSync('ip', ['link', 'add', PEER_VETH, 'type', 'veth', 'peer', 'name', `${PEER_VETH}p`]);
    execFileSync('ip', ['link', 'set', `${PEER_VETH}p`, 'netns', PEER_NS]);
    execFileSync('ip', ['addr', 'add', `${PEER_HOST_IP}/30`, 'dev', PEER_VETH]);
    execFileSync('ip', ['link', 'set', PEER_VETH, 'up']);
    const inPeer = (...args: string[]) => execFileSync('nsenter', [`--net=/run/netns/${PEER_NS}`, ...args], { encoding: 'utf8', timeout: 10_000 });
    inPeer('ip', 'addr', 'add', `${PEER_NET}.2/30`, 'dev', `${PEER_VETH}p`);
    inPeer('ip', 'link', 'set', `${PEER_VETH}p`, 'up');
    inPeer('ip', 'link', 'set', 'lo', 'up');
    const fromPeer = inPeer('/bin/busybox', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 3 ${PEER_HOST_IP} ${port}`);
    expect(fromPeer).toContain(r);
    // A second container asking for the same host port is refused, and nothing is left of it.
    const clash = await a.ctl(['run', '-d', '--name', `clash${r}`, '-p', `${port}:80`, `bb${r}:1`, 'sleep', '100']);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toMatch(/port|Conflict/i);
    await a.ctl(['rm', '-f', `clash${r}`]);
  });

  it('resolves container names on a user network and isolates it from the default bridge', async () => {
    const a = agent!;
    expect((await a.ctl(['network', 'create', NET])).code).toBe(0);
    expect((await a.ctl(['run', '-d', '--name', `b${r}`, '--network', NET, '--network-alias', `alias${r}`, `bb${r}:1`, 'httpd', '-f', '-p', '80', '-h', '/www'])).code).toBe(0);
    expect((await a.ctl(['run', '-d', '--name', `a${r}`, '--network', NET, `bb${r}:1`, 'sleep', '300'])).code).toBe(0);
    // The embedded DNS answers names and aliases of the network. (busybox-static's wget crashes
    // in a bare rootfs: static glibc has no NSS for its service lookup; nslookup and nc do not
    // need it, so the test speaks DNS with nslookup and HTTP with nc.)
    const get = (container: string, ip: string) =>
      a.ctl(['exec', container, '/bin/busybox', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 2 ${ip} 80`]);
    const resolve = async (name: string): Promise<string> => {
      for (let i = 0; i < 20; i++) {
        const out = await a.ctl(['exec', `a${r}`, '/bin/busybox', 'nslookup', name]);
        const ip = /Name:\s*\S+\s+Address:\s*([\d.]+)/.exec(out.stdout)?.[1];
        if (out.code === 0 && ip) return ip;
        await new Promise((res) => setTimeout(res, 150));
      }
      return '';
    };
    const byName = await resolve(`b${r}`);
    expect(byName).not.toBe('');
    expect(await resolve(`alias${r}`)).toBe(byName);
    expect((await get(`a${r}`, byName)).stdout).toContain(r);
    // A container on the default bridge cannot reach the user network's container.
    const bIp = Object.values(
      (JSON.parse((await a.ctl(['inspect', `b${r}`])).stdout) as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }[])[0]!.NetworkSettings.Networks,
    )[0]!.IPAddress;
    expect((await a.ctl(['run', '-d', '--name', `c${r}`, `bb${r}:1`, 'sleep', '300'])).code).toBe(0);
    expect(bIp).toBe(byName);
    const across = await get(`c${r}`, bIp);
    expect(across.stdout).not.toContain(r);
  });

  it('leaves no link or published-port rule after rm and network rm', async () => {
    const a = agent!;
    const ids = (await a.ctl(['ps', '-a', '-q'])).stdout.split(/\s+/).filter(Boolean);
    expect((await a.ctl(['rm', '-f', ...ids])).code).toBe(0);
    expect((await a.ctl(['network', 'rm', NET])).code).toBe(0);
    // No veth of the test's containers and no user-network bridge: only the default bridge,
    // which outlives containers by design, is new.
    expect(links().filter((l) => !linksBefore.has(l) && l !== PEER_VETH)).toEqual([BRIDGE]);
    expect(rulesOfTest().filter((l) => l.includes('-j DNAT'))).toEqual([]);
    expect((await a.ctl(['network', 'ls'])).stdout).not.toContain(NET);
  });
});
