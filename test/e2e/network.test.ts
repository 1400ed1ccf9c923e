/**
 * Bridge networking end to end, without the container runtime: `unshare -n sleep` processes stand
 * in for containers. Uses its own chain prefix, veth prefix, bridge names and 10.12x.<r>.0/24
 * subnets, so nothing of the host or of a running agent is touched; everything is removed in afterAll.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { BridgeNetwork, RealNetHost } from '../../pkg/network/index.js';

const execFileP = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const hasTools = (() => {
  try {
    execFileSync('iptables-restore', ['--version'], { stdio: 'ignore' });
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const r = randomBytes(2).toString('hex');
const octet = randomInt(1, 250);
const PREFIX = `ST${r.toUpperCase()}`;
const VETH = `t${r.slice(0, 3)}`;
const procs: ChildProcess[] = [];
let dataDir = '';
let bn: BridgeNetwork | undefined;
const inetVeth = `ti${r}`;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, timeout: 15_000 });
}
function inNs(pid: number, args: string[]): string {
  return sh('nsenter', [`--net=/proc/${pid}/ns/net`, ...args]);
}
function tryNs(pid: number, args: string[]): boolean {
  try {
    inNs(pid, args);
    return true;
  } catch {
    return false;
  }
}
async function fakeContainer(): Promise<number> {
  const p = spawn('unshare', ['-n', 'sleep', '1000'], { stdio: 'ignore' });
  procs.push(p);
  await new Promise((res) => setTimeout(res, 50));
  if (p.pid === undefined) throw new Error('unshare failed');
  return p.pid;
}
function startInNs(pid: number, args: string[]): ChildProcess {
  const p = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  return p;
}
function shoalRules(): string[] {
  return sh('iptables-save', []).split('\n').filter((l) => l.includes(PREFIX));
}
function ourLinks(): string[] {
  return (JSON.parse(sh('ip', ['-j', 'link', 'show'])) as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((n) => n.startsWith(VETH) || n.startsWith(`tb${r}`) || n === inetVeth);
}
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('no host address');
}
async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

describe.skipIf(!isRoot || !hasTools)('bridge networking (root)', () => {
  const netA = { name: `tn${r}a`, bridge: `tb${r}a`, subnet: `10.123.${octet}.0/24` };
  const netB = { name: `tn${r}b`, bridge: `tb${r}b`, subnet: `10.124.${octet}.0/24` };
  let pidA = 0;
  let pidA2 = 0;
  let pidB = 0;
  let pidInet = 0;
  const webDir = { path: '' };
  const hostPort = randomInt(20000, 30000);

  beforeAll(async () => {
    expect(shoalRules()).toEqual([]);
    dataDir = await mkdtemp(join(tmpdir(), 'shoal-net-e2e-'));
    webDir.path = dataDir;
    await writeFile(join(dataDir, 'index.html'), 'hello from A\n');
    bn = await BridgeNetwork.create({ dataDir, host: new RealNetHost(), chainPrefix: PREFIX, vethPrefix: VETH, brNetfilter: false });
    pidA = await fakeContainer();
    pidA2 = await fakeContainer();
    pidB = await fakeContainer();
    pidInet = await fakeContainer();
    // The "internet": its own veth pair and subnet, reached through the host.
    sh('ip', ['-batch', '-'], `link add ${inetVeth} type veth peer name eth0 netns ${pidInet}\naddr add 10.125.${octet}.1/24 dev ${inetVeth}\nlink set ${inetVeth} up\n`);
    sh('nsenter', [`--net=/proc/${pidInet}/ns/net`, 'ip', '-batch', '-'], `addr add 10.125.${octet}.2/24 dev eth0\nlink set eth0 up\nlink set lo up\n`);
  });

  afterAll(async () => {
    try {
      if (bn !== undefined) {
        for (const n of bn.listNetworks()) await bn.removeNetwork(n.name, { force: true }).catch(() => undefined);
      }
    } finally {
      for (const p of procs) p.kill('SIGKILL');
      for (const l of ourLinks()) {
        try {
          sh('ip', ['link', 'del', l]);
        } catch {
          /* already gone with its namespace */
        }
      }
      // Last resort for rules of this test only (unique prefix).
      const left = shoalRules();
      if (left.length > 0) {
        for (const t of ['nat', 'filter']) {
          const save = sh('iptables-save', ['-t', t]).split('\n');
          const jumps = save.filter((l) => l.startsWith('-A ') && l.includes(`-j ${PREFIX}-`) && !l.startsWith(`-A ${PREFIX}-`));
          const chains = save.filter((l) => l.startsWith(`:${PREFIX}-`)).map((l) => l.slice(1).split(' ')[0] ?? '');
          const text = [`*${t}`, ...jumps.map((j) => j.replace(/^-A /, '-D ')), ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
          sh('iptables-restore', ['--noflush'], text);
        }
      }
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('connects, publishes, masquerades, isolates and cleans up', async () => {
    const net = bn as BridgeNetwork;
    await net.ensure(netA);
    await net.ensure(netA); // idempotent
    await net.ensure(netB);
    const a = await net.attach(`a${r}000000000000`, pidA, { network: netA.name, ports: [`${hostPort}:80`], name: 'web' });
    const a2 = await net.attach(`c${r}000000000000`, pidA2, { network: netA.name });
    const b = await net.attach(`b${r}000000000000`, pidB, { network: netB.name });
    expect(a.ip).toBe(`10.123.${octet}.2`);
    expect(a.gateway).toBe(`10.123.${octet}.1`);

    // Same network: ping both ways.
    expect(tryNs(pidA2, ['busybox', 'ping', '-c1', '-W2', a.ip])).toBe(true);
    expect(tryNs(pidA, ['busybox', 'ping', '-c1', '-W2', a2.ip])).toBe(true);
    // Different networks: isolated.
    expect(tryNs(pidB, ['busybox', 'ping', '-c1', '-W1', a.ip])).toBe(false);
    expect(tryNs(pidA, ['busybox', 'ping', '-c1', '-W1', b.ip])).toBe(false);

    // The same host port again: clear Conflict, nothing half-made.
    const linksBefore = ourLinks().length;
    await expect(net.attach(`d${r}000000000000`, pidB, { network: netB.name, ports: [`${hostPort}:80`] })).rejects.toMatchObject({ code: 'Conflict' });
    expect(ourLinks().length).toBe(linksBefore);

    // Published port from the host's address and from localhost.
    startInNs(pidA, ['busybox', 'httpd', '-f', '-p', '80', '-h', webDir.path]);
    await vi.waitFor(() => {
      if (!tryNs(pidA2, ['busybox', 'wget', '-q', '-O', '/dev/null', `http://${a.ip}/`])) throw new Error('timed out waiting for httpd in A');
    }, { timeout: 5000, interval: 100 });
    expect(await get(`http://${hostAddress()}:${hostPort}/`)).toBe('hello from A\n');
    expect(await get(`http://127.0.0.1:${hostPort}/`)).toBe('hello from A\n');

    // Embedded DNS on the gateway answers the container name, only within its network.
    const dns = await net.startDns(netA.name, []);
    try {
      // Asynchronously: the server runs in this process's event loop.
      const { stdout } = await execFileP('nsenter', [`--net=/proc/${pidA2}/ns/net`, 'busybox', 'nslookup', 'web', a.gateway], { timeout: 10_000 });
      expect(stdout).toContain(a.ip);
    } finally {
      await dns.close();
    }

    // Egress NAT: the "internet" sees the host's address as the source.
    const server = startInNs(pidInet, ['node', '-e', "require('net').createServer((s)=>{s.end(s.remoteAddress+'\\n')}).listen(9000,'0.0.0.0',()=>console.log('up'))"]);
    await new Promise<void>((res) => server.stdout?.once('data', () => res()));
    const seen = inNs(pidA, ['busybox', 'nc', `10.125.${octet}.2`, '9000']).trim();
    expect(seen).toBe(`10.125.${octet}.1`);

    // Detach and remove: nothing of ours left.
    await net.detach(`a${r}000000000000`);
    expect(shoalRules().some((l) => l.includes(String(hostPort)))).toBe(false);
    await net.detach(`c${r}000000000000`);
    await net.detach(`b${r}000000000000`);
    await net.removeNetwork(netA.name);
    await net.removeNetwork(netB.name);
    expect(shoalRules()).toEqual([]);
    expect(ourLinks().filter((l) => l !== inetVeth)).toEqual([]);
  });
});
