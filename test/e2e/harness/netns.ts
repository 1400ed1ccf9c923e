/**
 * "Machines" made of network namespaces, so a test can run a cluster of hosts on one box:
 *
 *   const lan = createNetnsLan();            // host-side bridge, a /24 nobody uses here, .1 on it
 *   const h1 = lan.addHost('h1');            // netns + veth pair: eth0 = .11 inside, its peer on the bridge
 *   spawn(...h1.command(process.execPath, ['dist/shoal-agent.js', ...]))
 *   h1.setLink(false);                       // pull the host's cable (host side of the veth down)
 *   lan.remove();                            // netns, links, bridge (idempotent, never throws)
 *
 * Processes enter a host with `nsenter --net=/run/netns/NAME`, never `ip netns exec`: that
 * one remounts /sys, and /sys/fs/cgroup is empty inside it. Only the network is private to a
 * host; mounts, cgroups and the filesystem are the machine's, so the helpers below also sweep
 * what a host's processes leave in the cgroupfs and the mount table.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync, type Dirent } from 'node:fs';
import { join } from 'node:path';

export interface NetnsHost {
  /** Name of the network namespace (`ip netns list`). */
  readonly netns: string;
  /** `/run/netns/NAME`, for `nsenter --net=`. */
  readonly netnsPath: string;
  /** The host's address on the LAN (eth0 inside the namespace). */
  readonly address: string;
  /** Host-side end of the veth pair (on the LAN bridge). */
  readonly hostLink: string;
  /** The command and argv that run `cmd args` inside this host's network namespace. */
  command(cmd: string, args: readonly string[]): [string, string[]];
  /** Sets the host-side end of the link up or down (down: the host is cut off the LAN). */
  setLink(up: boolean): void;
}

export interface NetnsLan {
  /** The host-side bridge joining the hosts. */
  readonly bridge: string;
  /** `A.B.C.0/24`. */
  readonly subnet: string;
  /** `A.B.C.1` on the bridge: servers the hosts should reach listen here. */
  readonly hostAddress: string;
  readonly hosts: readonly NetnsHost[];
  /** Adds a host `.10+N` (N = its position, from 1); `name` ends up in the netns name. */
  addHost(name: string): NetnsHost;
  /** Deletes the namespaces, the host-side links and the bridge; safe to call more than once. */
  remove(): void;
}

export interface NetnsLanOptions {
  /** Part of every name made (default: pid + random hex), so two runs never collide. */
  tag?: string;
  /** The /24 to use (default: a free one from 10.200.0.0-10.249.255.0). */
  subnet?: string;
}

function ip(args: readonly string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

function quietIp(args: readonly string[]): void {
  spawnSync('ip', args, { stdio: 'ignore' });
}

/** Whether `ip` and `nsenter` are here (root is the caller's to check). */
export function netnsToolsAvailable(): boolean {
  return spawnSync('ip', ['-V'], { stdio: 'ignore' }).status === 0 && spawnSync('nsenter', ['--version'], { stdio: 'ignore' }).status === 0;
}

function toInt(addr: string): number {
  const p = addr.split('.').map(Number);
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0;
}

/** Whether IPv4 `addr` is inside `cidr` (`A.B.C.D/N`). */
export function ipInCidr(addr: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const n = Number(bits);
  if (net === undefined || !Number.isInteger(n) || n < 0 || n > 32) return false;
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return ((toInt(addr) & mask) >>> 0) === ((toInt(net) & mask) >>> 0);
}

function overlaps(a: string, b: string): boolean {
  const [an, ab] = a.split('/');
  const [bn, bb] = b.split('/');
  if (an === undefined || bn === undefined) return false;
  const bits = Math.min(Number(ab ?? 32), Number(bb ?? 32));
  return ipInCidr(an, `${bn}/${bits}`);
}

/** Prefixes in use here: addresses on any link and every route destination but the default. */
function prefixesInUse(): string[] {
  const out: string[] = [];
  for (const m of ip(['-4', '-o', 'addr', 'show']).matchAll(/\binet (\d+\.\d+\.\d+\.\d+\/\d+)/g)) out.push(m[1]!);
  for (const line of ip(['-4', 'route', 'show', 'table', 'all']).split('\n')) {
    const dest = line.trim().split(/\s+/).find((w) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(w));
    if (dest !== undefined && !line.startsWith('default')) out.push(dest.includes('/') ? dest : `${dest}/32`);
  }
  return out;
}

/** A /24 in 10.200.0.0-10.249.255.0 that no address or route on this machine overlaps. */
export function freeSubnet24(): string {
  const used = prefixesInUse();
  for (let i = 0; i < 200; i++) {
    const b = randomBytes(2);
    const cand = `10.${200 + (b[0]! % 50)}.${b[1]! % 250}.0/24`;
    if (!used.some((u) => overlaps(u, cand))) return cand;
  }
  throw new Error('no free /24 in 10.200.0.0/8-10.249.255.0/24 on this machine');
}

export function createNetnsLan(opts: NetnsLanOptions = {}): NetnsLan {
  const tag = opts.tag ?? `${process.pid % 100_000}${randomBytes(2).toString('hex')}`;
  const subnet = opts.subnet ?? freeSubnet24();
  const prefix = subnet.split('.').slice(0, 3).join('.');
  const hostAddress = `${prefix}.1`;
  // Link names have at most 15 characters: `sn` + a short hex, plus `h<N>` for the veths.
  const short = randomBytes(3).toString('hex');
  const bridge = `snb${short}`;
  const hosts: NetnsHost[] = [];
  const madeNetns: string[] = [];
  const madeLinks: string[] = [];
  let bridgeMade = false;

  const remove = (): void => {
    for (const ns of madeNetns.splice(0)) quietIp(['netns', 'del', ns]);
    // A veth goes with its namespace unless a process still holds the namespace: delete it here too.
    for (const l of madeLinks.splice(0)) quietIp(['link', 'del', l]);
    if (bridgeMade) quietIp(['link', 'del', bridge]);
    bridgeMade = false;
  };

  try {
    ip(['link', 'add', bridge, 'type', 'bridge']);
    bridgeMade = true;
    ip(['addr', 'add', `${hostAddress}/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
  } catch (err) {
    remove();
    throw err;
  }

  const addHost = (name: string): NetnsHost => {
    const n = hosts.length + 1;
    if (n > 200) throw new Error('at most 200 hosts on one LAN');
    const netns = `shoal-e2e-${tag}-${name}`;
    const hostLink = `snv${short}h${n}`;
    const address = `${prefix}.${10 + n}`;
    ip(['netns', 'add', netns]);
    madeNetns.push(netns);
    ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    madeLinks.push(hostLink);
    ip(['link', 'set', hostLink, 'master', bridge, 'up']);
    ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    ip(['-n', netns, 'route', 'add', 'default', 'via', hostAddress]);
    const netnsPath = `/run/netns/${netns}`;
    const host: NetnsHost = {
      netns,
      netnsPath,
      address,
      hostLink,
      command: (cmd, args) => ['nsenter', [`--net=${netnsPath}`, cmd, ...args]],
      setLink: (up) => void ip(['link', 'set', hostLink, up ? 'up' : 'down']),
    };
    hosts.push(host);
    return host;
  };

  return { bridge, subnet, hostAddress, hosts, addHost, remove };
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Every directory of a cgroup tree, parents before children. */
function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    out.push(d);
    let ents: Dirent[] = [];
    try {
      ents = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) if (e.isDirectory()) walk(join(d, e.name));
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/**
 * Kills every process left in the cgroup parent `parent` (in every v1 hierarchy and in the v2
 * tree), thawing frozen ones first, then removes its directories, deepest first. For what an
 * agent's containers leave behind when the agent died before removing them.
 */
export async function sweepCgroupParent(parent: string): Promise<void> {
  if (!parent || parent.includes('/') || parent.startsWith('.')) throw new Error(`not a cgroup parent name: ${parent}`);
  const roots = [join(CGROUP_ROOT, parent)];
  for (const c of existsSync(CGROUP_ROOT) ? readdirSync(CGROUP_ROOT) : []) roots.push(join(CGROUP_ROOT, c, parent));
  for (const root of roots) {
    const dirs = cgroupTree(root);
    for (const d of dirs) {
      try {
        if (readFileSync(join(d, 'freezer.state'), 'utf8').trim() !== 'THAWED') writeFileSync(join(d, 'freezer.state'), 'THAWED');
      } catch {
        /* not the freezer hierarchy */
      }
      try {
        if (existsSync(join(d, 'cgroup.kill'))) writeFileSync(join(d, 'cgroup.kill'), '1');
      } catch {
        /* older kernel */
      }
      let procs: string[] = [];
      try {
        procs = readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
      } catch {
        /* gone */
      }
      for (const pid of procs) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    // A process just killed keeps its cgroup busy for a moment: retry each rmdir for up to 3 s.
    for (const d of dirs.reverse()) {
      for (let i = 0; i < 30 && existsSync(d); i++) {
        try {
          rmdirSync(d);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }
}

/** Lazily unmounts every mount point under `dir` (deepest first). */
export function unmountUnder(dir: string): void {
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  const points = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(base)));
  for (const m of points.reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
}

/** SIGKILLs `pid` if it is alive and its command line contains `marker` (guards against pid reuse). */
export function killIfItIs(pid: number, marker: string): void {
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) return;
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}
