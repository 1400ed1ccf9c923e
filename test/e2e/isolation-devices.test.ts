/**
 * Device control, for real: root in a container (CAP_MKNOD, mknod allowed by seccomp, an
 * overlay root without nodev) makes a node for the host's disk and must not be able to open
 * it, on cgroup v1 (the devices hierarchy, rules written by the cgroup manager) and on cgroup
 * v2 (the BPF_PROG_TYPE_CGROUP_DEVICE program the helper attaches). A cgroup2 hierarchy can
 * always be mounted and device programs need no controller, so the v2 half runs on a
 * v1-booted host too: in the host's cgroup2 mount (the hybrid `unified` one here, the root on
 * a pure v2 host) or in one the test mounts itself. Also: the allowed devices behave as without
 * any control, exec is covered, a start fails closed when the program cannot be attached, and
 * the C program generator is checked against the rules (test/native/devices-filter.c).
 *
 * The host disk is only ever opened for reading where no control applies; where control
 * applies the opens for writing must fail before any byte moves. Needs root, overlayfs,
 * busybox and the built helper; cgroups, processes, mounts and temp dirs go in afterAll, also
 * when a test fails.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShoalError } from '../../pkg/api/index.js';
import type { Cgroup, CgroupManager, LaunchSpec, Started } from '../../pkg/runtime/index.js';
import { createCgroupManager, DEFAULT_DEVICE_RULES, detectCgroups, NativeDriver } from '../../pkg/runtime/index.js';
import { haveBusybox, makeBusyboxRootfs } from './helpers-rootfs.js';

const REPO = resolve(import.meta.dirname, '../..');
const HELPER = join(REPO, 'native/build/shoal-runtime');
const CG = '/sys/fs/cgroup';
const isRoot = process.getuid?.() === 0;

function skipReason(): string | undefined {
  if (!isRoot) return 'needs root';
  if (!existsSync(HELPER)) return `the native helper is not built (${HELPER}; make native)`;
  if (!haveBusybox()) return 'needs /bin/busybox (busybox-static)';
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'needs overlayfs';
  return undefined;
}
const skip = skipReason();
const haveV1Devices = skip === undefined && detectCgroups(CG) === 1 && existsSync(`${CG}/devices`);

const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
const EPERM = 'Operation not permitted';

interface BlockDev {
  major: number;
  minor: number;
  /** The host's node for it, when there is one (/dev/<DEVNAME>). */
  node?: string;
}

/** The block device of the host's root filesystem; a real one from /sys/dev/block when / is virtual (overlay, tmpfs). */
function hostDisk(): BlockDev {
  const dev = statSync('/', { bigint: true }).dev;
  let major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  let minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  if (major === 0) {
    const all = readdirSync('/sys/dev/block').map((e) => e.split(':').map(Number) as [number, number]);
    // Not a loop (7) or ram (1) device, if there is such a one.
    const pick = all.find(([m]) => m !== 7 && m !== 1) ?? all[0];
    if (!pick) throw new Error('no block device on this host');
    [major, minor] = pick;
  }
  let node: string | undefined;
  try {
    const name = /^DEVNAME=(.+)$/m.exec(readFileSync(`/sys/dev/block/${major}:${minor}/uevent`, 'utf8'))?.[1];
    if (name && existsSync(`/dev/${name}`)) node = `/dev/${name}`;
  } catch {
    // no uevent: no node to compare with
  }
  return { major, minor, ...(node ? { node } : {}) };
}

/** What a shell in the container gets from each device: "ok" or the error text (strerror). */
function probeScript(disk: BlockDev, withWrites: boolean): string {
  const lines = [
    'try() { n=$1; shift; if e=$( (eval "$*") 2>&1 >/dev/null ); then echo "$n=ok"; else echo "$n=${e##*: }"; fi; }',
    `[ -e /dev/hostdisk ] || try disk_mknod "mknod /dev/hostdisk b ${disk.major} ${disk.minor}"`,
    'try disk_read "exec 3</dev/hostdisk"',
    ...(withWrites ? ['try disk_write "exec 3>>/dev/hostdisk"', 'try disk_rdwr "exec 3<>/dev/hostdisk"'] : []),
    'try tun_mknod "mknod /dev/tun c 10 200"',
    'try tun_rdwr "exec 3<>/dev/tun"',
    'try null "echo x >/dev/null"',
    'try zero "head -c 4 /dev/zero >/dev/null"',
    'try full "echo x >/dev/full"',
    'try random "head -c 4 /dev/random >/dev/null"',
    'try urandom "head -c 4 /dev/urandom >/dev/null"',
    'try tty "exec 3<>/dev/tty"',
    'try ptmx "exec 3<>/dev/ptmx"',
    'try pts "exec 3<>/dev/ptmx; exec 4<>/dev/pts/0"',
  ];
  return lines.join('\n');
}

function parseProbe(out: string): Record<string, string> {
  return Object.fromEntries(out.trim().split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** The first cgroup2 mount of the host, or one mounted under `base` (unmounted in afterAll). */
function cgroup2Root(base: string): { root: string; mounted: boolean } {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.startsWith('cgroup2 ')) return { root: left!.split(' ')[4]!, mounted: false };
  }
  const root = join(base, 'cgroup2');
  mkdirSync(root);
  execFileSync('mount', ['-t', 'cgroup2', 'cgroup2', root]);
  return { root, mounted: true };
}

async function removeDir(dir: string): Promise<void> {
  for (let i = 0; i < 50 && existsSync(dir); i++) {
    try {
      rmdirSync(dir);
    } catch {
      await sleep(100);
    }
  }
}

describe.skipIf(skip !== undefined)(`device control${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tag = `shoal-devtest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let base = '';
  let lower = '';
  let disk: BlockDev = { major: 0, minor: 0 };
  let v2: { root: string; mounted: boolean } | undefined;
  let v2mgr: CgroupManager | undefined;
  const cgroups: Cgroup[] = [];
  const extraDirs: string[] = []; // removed deepest first, before the cgroups
  const started: Started[] = [];
  let seq = 0;
  const driver = new NativeDriver({ binaryPath: HELPER, pollIntervalMs: 50 });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'shoal-dev-'));
    lower = makeBusyboxRootfs(join(base, 'lower'));
    disk = hostDisk();
    v2 = cgroup2Root(base);
    v2mgr = createCgroupManager({ root: v2.root, parent: tag });
  });

  afterAll(async () => {
    for (const s of started) {
      for (const p of [s.pid, s.monitorPid]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    for (const d of extraDirs.reverse()) await removeDir(d);
    for (const cg of cgroups) await cg.destroy().catch(() => undefined);
    if (v2) await removeDir(join(v2.root, tag));
    for (const c of readdirSync(CG)) if (existsSync(join(CG, c, tag))) await removeDir(join(CG, c, tag));
    if (v2?.mounted) execFileSync('umount', [v2.root]);
    if (base) await rm(base, { recursive: true, force: true });
  });

  function makeSpec(args: string[], over: Partial<LaunchSpec> = {}): LaunchSpec {
    const id = `c${++seq}`;
    const dir = join(base, id);
    for (const d of ['upper', 'work', 'state']) mkdirSync(join(dir, d), { recursive: true });
    return {
      id,
      stateDir: join(dir, 'state'),
      logPath: join(dir, 'log.json'),
      logMaxBytes: 10 << 20,
      logMaxFiles: 1,
      rootfs: { lowerDirs: [lower], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') },
      hostname: id,
      process: {
        args,
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
        noNewPrivileges: true,
        capabilities: DEFAULT_CAPS,
        rlimits: [],
        openStdin: false,
      },
      mounts: [],
      etcFiles: {},
      network: 'none',
      cgroupProcsFiles: [],
      seccomp: 'default',
      init: false,
      maskedPaths: [],
      readonlyPaths: [],
      ...over,
    };
  }

  async function start(spec: LaunchSpec): Promise<Started> {
    const s = await driver.start(spec);
    started.push(s);
    return s;
  }

  async function stdoutOf(spec: LaunchSpec): Promise<string> {
    const text = await readFile(spec.logPath, 'utf8');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { log: string; stream: string })
      .filter((l) => l.stream === 'stdout').map((l) => l.log).join('');
  }

  async function probe(cgroupProcsFiles: string[], withWrites: boolean): Promise<Record<string, string>> {
    const spec = makeSpec(['sh', '-c', probeScript(disk, withWrites)], { cgroupProcsFiles });
    await start(spec);
    expect((await driver.waitExit(spec.stateDir, AbortSignal.timeout(30_000))).exitCode).toBe(0);
    return parseProbe(await stdoutOf(spec));
  }

  async function v2Cgroup(name: string): Promise<Cgroup> {
    expect(v2mgr?.version).toBe(2);
    const cg = await v2mgr!.create(name, {});
    cgroups.push(cg);
    return cg;
  }

  /** Without any device control (no cgroup of ours): what each device gives; the baseline. */
  let baseline: Record<string, string> | undefined;
  async function unrestricted(): Promise<Record<string, string>> {
    baseline ??= await probe([], false);
    return baseline;
  }

  /** Refused: the disk, read or written, and a char device outside the list; made: their nodes;
   * everything on the list: exactly what it gives without control. */
  async function expectControlled(got: Record<string, string>): Promise<void> {
    const free = await unrestricted();
    expect(got).toMatchObject({ disk_mknod: 'ok', disk_read: EPERM, disk_write: EPERM, disk_rdwr: EPERM, tun_mknod: 'ok', tun_rdwr: EPERM });
    for (const k of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts']) expect(`${k}=${got[k]}`).toBe(`${k}=${free[k]}`);
    expect(got).toMatchObject({ null: 'ok', zero: 'ok', urandom: 'ok', ptmx: 'ok', full: 'No space left on device' });
  }

  it('without device control, root in a container opens the host disk node it made (the hole)', async () => {
    const got = await unrestricted();
    expect(got['disk_mknod']).toBe('ok');
    let hostCanOpen = false;
    if (disk.node) {
      try {
        closeSync(openSync(disk.node, 'r'));
        hostCanOpen = true;
      } catch {
        // this test process itself is restricted (a container's devices cgroup): nothing to compare
      }
    }
    if (hostCanOpen) expect(got['disk_read']).toBe('ok');
    expect(got['tun_rdwr']).not.toBe(EPERM);
    for (const k of ['tty', 'pts']) expect(got[k]).not.toBe(EPERM);
  });

  it.skipIf(!haveV1Devices)('cgroup v1: the devices hierarchy refuses the host disk and allows the standard devices', async () => {
    const v1 = createCgroupManager({ root: CG, parent: tag });
    expect(v1.version).toBe(1);
    const cg = await v1.create('v1', {});
    cgroups.push(cg);
    expect(cg.procsFiles().some((f) => f.startsWith(`${CG}/devices/`))).toBe(true);
    await expectControlled(await probe(cg.procsFiles(), true));
  });

  it('cgroup v2: the BPF program refuses the host disk and allows the standard devices; a restart in the same cgroup and exec too', async () => {
    const cg = await v2Cgroup('v2');
    // Only the cgroup2 directory: the v1 devices hierarchy (where there is one) allows all.
    expect(cg.procsFiles()).toEqual([join(v2!.root, tag, 'v2', 'cgroup.procs')]);
    await expectControlled(await probe(cg.procsFiles(), true));
    // A second start in the same cgroup replaces the program (test/native: one stays attached).
    await expectControlled(await probe(cg.procsFiles(), true));
    // exec joins the same cgroup, so the same program applies.
    const spec = makeSpec(['sleep', '1000'], { cgroupProcsFiles: cg.procsFiles() });
    const s = await start(spec);
    try {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (b: Buffer) => chunks.push(b));
      const res = await driver.exec(spec, s, { args: ['sh', '-c', probeScript(disk, true)], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, stdout: out, stderr: new PassThrough() });
      expect(res.exitCode).toBe(0);
      await expectControlled(parseProbe(Buffer.concat(chunks).toString()));
    } finally {
      process.kill(s.pid, 'SIGKILL');
      await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
    }
  });

  it('fails closed: when the program cannot be attached the container does not start, and the error says why', async () => {
    // A container's cgroup holds its program without BPF_F_ALLOW_OVERRIDE/MULTI, so the kernel
    // refuses any attach below it: a real EPERM from BPF_PROG_ATTACH for a cgroup nested there.
    const outer = await v2Cgroup('outer');
    const holder = makeSpec(['sleep', '1000'], { cgroupProcsFiles: outer.procsFiles() });
    const h = await start(holder);
    const innerDir = join(v2!.root, tag, 'outer', 'inner');
    mkdirSync(innerDir);
    extraDirs.push(innerDir);
    const spec = makeSpec(['sh', '-c', 'echo ran'], { cgroupProcsFiles: [join(innerDir, 'cgroup.procs')] });
    const err = await driver.start(spec).then(() => undefined, (e: unknown) => e);
    expect(isShoalError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(`^start container ${spec.id}: device control on cgroup v2: bpf\\(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE\\) to ${innerDir}: Operation not permitted \\(an ancestor cgroup holds a device program that allows no override.*refusing to start without it$`),
    );
    expect(readFileSync(join(innerDir, 'cgroup.procs'), 'utf8')).toBe('');
    expect(readFileSync(join(outer.procsFiles()[0]!), 'utf8').trim()).toBe(String(h.pid));
    expect(existsSync(join(spec.stateDir, 'pid.json'))).toBe(false);
    expect(existsSync(spec.logPath) ? await stdoutOf(spec) : '').toBe('');
    // The holder is unaffected.
    expect(await driver.isRunning(h.pid, h.pidStartTime)).toBe(true);
    process.kill(h.pid, 'SIGKILL');
    await driver.waitExit(holder.stateDir, AbortSignal.timeout(10_000));
  });

  it('fails closed on malformed or missing rules, v1 or v2, before anything runs', async () => {
    const cg = await v2Cgroup('rules');
    const cases: Array<[string[], string[], RegExp]> = [
      [cg.procsFiles(), ['c 1:3 rwx'], /: device rule "c 1:3 rwx": want "a" or/],
      [cg.procsFiles(), [...DEFAULT_DEVICE_RULES, 'b 8:0'], /: device rule "b 8:0": want/],
      [[], ['c 1:3 rwx'], /: device rule "c 1:3 rwx": want/], // no cgroup2 dir: refused all the same
      [cg.procsFiles(), [], /: device control on cgroup v2: the config has no device rules/],
    ];
    for (const [files, rules, msg] of cases) {
      const spec = makeSpec(['sh', '-c', 'echo ran'], { cgroupProcsFiles: files, deviceRules: rules });
      const err = await driver.start(spec).then(() => undefined, (e: unknown) => e);
      expect(isShoalError(err, 'InvalidArgument'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(msg);
      expect(existsSync(join(spec.stateDir, 'pid.json'))).toBe(false);
    }
    expect(await cg.pids()).toEqual([]);
  });

  it('the program generator agrees with the rules for every device and access (C), and attaching costs well under a millisecond', async (ctx) => {
    const bin = join(base, 'devices-filter');
    try {
      execFileSync('cc', ['-O1', '-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE', '-o', bin, join(REPO, 'test/native/devices-filter.c')], { stdio: 'pipe' });
    } catch (e) {
      ctx.skip(`no C compiler to build test/native/devices-filter.c: ${String(e)}`);
      return;
    }
    expect(execFileSync(bin, ['check', ...DEFAULT_DEVICE_RULES], { encoding: 'utf8' })).toMatch(/^ok \d+\n$/);
    const dir = join(v2!.root, tag, 'bench');
    mkdirSync(dir, { recursive: true });
    extraDirs.push(dir);
    const out = execFileSync(bin, ['attach', dir, '50', ...DEFAULT_DEVICE_RULES], { encoding: 'utf8' });
    const m = /^median_us=(\d+) max_us=(\d+) programs=(\d+) flags=(\d+)$/m.exec(out);
    expect(m, out).not.toBeNull();
    // 50 attaches to one cgroup leave one program (replaced, not stacked), attached with flags 0.
    expect(m![3]).toBe('1');
    expect(m![4]).toBe('0');
    console.log(`device program build + load + attach: median ${m![1]} µs, max ${m![2]} µs over 50`);
    expect(Number(m![1])).toBeLessThan(2000);
  });
});
