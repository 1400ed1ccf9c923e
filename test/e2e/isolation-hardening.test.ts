/**
 * Runtime hardening (issue 14), for real, with NativeDriver and a busybox root: under
 * `network: host` the container's /sys is a fresh read-only sysfs without the host's
 * submounts (tracefs, bpffs... which an rbind of /sys carried writable); the helper's
 * processes a container can see (the --init reaper above all) are not dumpable, so the
 * container's root cannot read them through /proc/<pid>/; exec joins the container through a
 * pidfd checked against PID 1's recorded start time, so a recycled or wrong pid is refused
 * before any cgroup or namespace is joined and nothing runs.
 *
 * Needs root, overlayfs, busybox and the built helper; skips with the reason otherwise. To have
 * host submounts to look for, the test mounts tracefs at /sys/kernel/tracing and bpffs at
 * /sys/fs/bpf where the host has none and unmounts them again. Containers, the host process,
 * cgroups, those mounts and temp dirs are removed in afterAll, also when a test fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShoalError } from '../../pkg/api/index.js';
import type { ContainerProcess, IdMapping, LaunchSpec, Started } from '../../pkg/runtime/index.js';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, NativeDriver } from '../../pkg/runtime/index.js';
import { haveBusybox, makeBusyboxRootfs } from './helpers-rootfs.js';

const REPO = resolve(import.meta.dirname, '../..');
const HELPER = join(REPO, 'native/build/shoal-runtime');
const CG = '/sys/fs/cgroup';
const ROOT: IdMapping = { uid: 0, gid: 0, additionalGids: [] };
const USER: IdMapping = { uid: 1000, gid: 1000, additionalGids: [] };
/** In the agent's (here: the test's) environment, which the helper's processes inherit. */
const SECRET = `shoal-hardening-secret-${Math.random().toString(36).slice(2)}`;

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync(HELPER)) return `the native helper is not built (${HELPER}; make native)`;
  if (!haveBusybox()) return 'needs /bin/busybox (busybox-static)';
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'needs overlayfs';
  return undefined;
}
const skip = skipReason();

interface MountEntry {
  mountPoint: string;
  options: string[];
  fsType: string;
}

/** /proc/<pid>/mountinfo: `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`. */
function parseMountinfo(text: string): MountEntry[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [left = '', right = ''] = l.split(' - ');
      const f = left.split(' ');
      const mountPoint = (f[4] ?? '').replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return { mountPoint, options: (f[5] ?? '').split(','), fsType: right.split(' ')[0] ?? '' };
    });
}

const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

describe.skipIf(skip !== undefined)(`runtime hardening${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tag = `shoal-test-hd-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let base = '';
  let lower = '';
  const cgroupDirs: string[] = [];
  /** A pids cgroup of its own (v1 here, where the hierarchy exists): pids.peak tells whether anything ever joined it. */
  let probeCgroup: string | undefined;
  const ourMounts: string[] = [];
  const started: Started[] = [];
  const hostProcs: ChildProcess[] = [];
  let seq = 0;
  const driver = new NativeDriver({ binaryPath: HELPER, pollIntervalMs: 50 });
  const savedSecret = process.env.SHOAL_TEST_SECRET;

  beforeAll(async () => {
    process.env.SHOAL_TEST_SECRET = SECRET;
    base = await mkdtemp(join(tmpdir(), 'shoal-harden-'));
    lower = makeBusyboxRootfs(join(base, 'lower'));
    if (existsSync(`${CG}/cgroup.controllers`)) {
      cgroupDirs.push(`${CG}/${tag}`);
    } else {
      for (const c of ['memory', 'cpu', 'pids', 'freezer']) if (existsSync(`${CG}/${c}`)) cgroupDirs.push(`${CG}/${c}/${tag}`);
      if (existsSync(`${CG}/pids/cgroup.procs`)) probeCgroup = `${CG}/pids/${tag}-probe`;
    }
    for (const d of [...cgroupDirs, ...(probeCgroup ? [probeCgroup] : [])]) mkdirSync(d);
    // Submounts of the host's /sys to look for in a host-network container.
    const have = new Set(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint));
    for (const [type, dir] of [['tracefs', '/sys/kernel/tracing'], ['bpf', '/sys/fs/bpf']] as const) {
      if (have.has(dir) || !existsSync(dir) || !readFileSync('/proc/filesystems', 'utf8').includes(`\t${type}\n`)) continue;
      try {
        execFileSync('mount', ['-t', type, type, dir], { stdio: 'pipe' });
        ourMounts.push(dir);
      } catch {
        /* not allowed here: the test looks at whatever the host has */
      }
    }
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
    for (const p of hostProcs) p.kill('SIGKILL');
    for (const d of [...cgroupDirs, ...(probeCgroup ? [probeCgroup] : [])]) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          await sleep(100);
        }
      }
    }
    for (const m of ourMounts) {
      try {
        rmdirSync(join(m, '.shoal-probe')); // left by a container that could write there (the hole)
      } catch {
        /* not there */
      }
      try {
        execFileSync('umount', [m], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', m], { stdio: 'pipe' });
      }
    }
    if (savedSecret === undefined) delete process.env.SHOAL_TEST_SECRET;
    else process.env.SHOAL_TEST_SECRET = savedSecret;
    if (base) await rm(base, { recursive: true, force: true });
  });

  function makeSpec(args: string[], over: Partial<LaunchSpec> = {}, proc: Partial<LaunchSpec['process']> = {}): LaunchSpec {
    const id = `h${++seq}`;
    const dir = join(base, id);
    for (const d of ['upper', 'work', 'state']) mkdirSync(join(dir, d), { recursive: true });
    return {
      id,
      stateDir: join(dir, 'state'),
      logPath: join(dir, 'log.json'),
      logMaxBytes: 10 << 20,
      logMaxFiles: 3,
      rootfs: { lowerDirs: [lower], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') },
      hostname: `host-${id}`,
      process: {
        args,
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
        cwd: '/',
        user: ROOT,
        noNewPrivileges: true,
        capabilities: DEFAULT_CAPABILITIES,
        rlimits: [],
        openStdin: false,
        ...proc,
      },
      mounts: [],
      etcFiles: {},
      network: 'none',
      cgroupProcsFiles: cgroupDirs.map((d) => join(d, 'cgroup.procs')),
      seccomp: 'default',
      init: false,
      maskedPaths: DEFAULT_MASKED_PATHS,
      readonlyPaths: DEFAULT_READONLY_PATHS,
      ...over,
    };
  }

  async function start(spec: LaunchSpec): Promise<Started> {
    const s = await driver.start(spec);
    started.push(s);
    return s;
  }

  async function stop(spec: LaunchSpec, s: Started): Promise<void> {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
  }

  async function run(spec: LaunchSpec) {
    await start(spec);
    const exit = await driver.waitExit(spec.stateDir, AbortSignal.timeout(30_000));
    const lines = (await readFile(spec.logPath, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { log: string; stream: string });
    const out = (stream: string) => lines.filter((l) => l.stream === stream).map((l) => l.log).join('');
    return { exit, stdout: out('stdout'), stderr: out('stderr') };
  }

  async function exec(spec: LaunchSpec, target: ContainerProcess, args: string[], user = ROOT) {
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (b: Buffer) => (stdout += b.toString()));
    err.on('data', (b: Buffer) => (stderr += b.toString()));
    const res = await driver.exec(spec, target, { args, env: ['PATH=/bin'], cwd: '/', user, stdout: out, stderr: err });
    return { ...res, stdout, stderr };
  }

  it('network host: /sys is a fresh read-only sysfs; no host submount is there writable; the read-only cgroupfs is', async () => {
    const host = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    // The host's submounts of /sys other than cgroupfs (the container gets its own at /sys/fs/cgroup).
    const subs = [...new Set(host.map((m) => m.mountPoint).filter((p) => p.startsWith('/sys/') && !under(p, CG)))];
    expect(subs.length).toBeGreaterThan(0); // the test mounted some if the host had none
    const probes = subs.map((p) => `echo "probe ${p}: $(mkdir ${p}/.shoal-probe 2>&1 && rmdir ${p}/.shoal-probe && echo WRITABLE)"`);
    const script = ['cat /proc/self/mountinfo', 'echo ---', ...probes, 'echo "probe /sys: $(mkdir /sys/.shoal-probe 2>&1)"',
      'echo "probe /sys/fs/cgroup: $(mkdir /sys/fs/cgroup/.shoal-probe 2>&1)"', 'echo "cgroups: $(ls /sys/fs/cgroup | tr "\\n" " ")"',
      'echo "net: $(ls /sys/class/net | tr "\\n" " ")"'].join('\n');
    const r = await run(makeSpec(['sh', '-c', script], { network: 'host' }));
    expect(r.exit.exitCode).toBe(0);
    const [mountinfo = '', report = ''] = r.stdout.split('---\n');
    const inside = parseMountinfo(mountinfo);
    const probe = (p: string) => new RegExp(`^probe ${p}: (.*)$`, 'm').exec(report)?.[1];

    // Each of the host's submounts: absent, or (were it there) refusing writes.
    for (const p of subs) {
      const mounted = inside.some((m) => m.mountPoint === p);
      if (mounted) expect(probe(p), p).toMatch(/Read-only file system/);
      expect(probe(p), p).not.toContain('WRITABLE');
    }
    const sys = inside.filter((m) => m.mountPoint === '/sys');
    expect(sys).toHaveLength(1);
    expect(sys[0]?.fsType).toBe('sysfs');
    for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) expect(sys[0]?.options).toContain(o);
    expect(probe('/sys')).toMatch(/Read-only file system/);
    // Nothing below /sys but the container's own cgroupfs and masks, all read-only.
    const below = inside.filter((m) => m.mountPoint.startsWith('/sys/'));
    expect(below.map((m) => m.mountPoint).filter((p) => !under(p, CG) && !DEFAULT_MASKED_PATHS.includes(p))).toEqual([]);
    expect(below.length).toBeGreaterThan(0);
    for (const m of below) expect(m.options).toContain('ro');
    expect(probe('/sys/fs/cgroup')).toMatch(/Read-only file system/);
    expect(/^cgroups: (.*)$/m.exec(report)?.[1]?.trim()).not.toBe('');
    // sysfs shows the network namespace it was mounted in: the host's.
    expect(/^net: (.*)$/m.exec(report)?.[1]?.trim().split(' ').sort()).toEqual(readdirSync('/sys/class/net').sort());
  });

  it("--init: the resident shoal-init is not dumpable: the container's root cannot read it through /proc/1/; the entrypoint it forked can be", async () => {
    // Docker's default: root in the container, its 14 capabilities (no CAP_SYS_PTRACE), the
    // same uid and capabilities as shoal-init, which a dumpable shoal-init would let in.
    const spec = makeSpec(['sleep', '1000'], { init: true });
    const s = await start(spec);
    try {
      expect(readFileSync(`/proc/${s.pid}/status`, 'utf8')).toMatch(/^Name:\tshoal-init$/m);
      const r = await exec(spec, s, ['sh', '-c', [
        'cat /proc/1/environ; echo "environ=$?"', 'readlink /proc/1/cwd; echo "cwd=$?"', 'readlink /proc/1/fd/1; echo "fd=$?"',
        'dd if=/proc/1/mem of=/dev/null bs=1 count=1 skip=4096 2>/dev/null; echo "mem=$?"',
        'cat /proc/2/cmdline | tr "\\0" " "; echo', 'cat /proc/2/environ >/dev/null; echo "child=$?"',
      ].join('\n')]);
      expect(r.stdout).toMatch(/environ=[1-9]/);
      expect(r.stdout).toMatch(/cwd=[1-9]/);
      expect(r.stdout).toMatch(/fd=[1-9]/);
      expect(r.stdout).toMatch(/mem=[1-9]/);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      // Nor does it carry the agent's environment at all (a join token may be in it): even
      // root on the host, who may read it, finds it empty.
      expect(readFileSync(`/proc/${s.pid}/environ`, 'utf8')).toBe('');
      // The entrypoint is dumpable again after its execve, as in Docker.
      expect(r.stdout).toContain('sleep 1000 \n');
      expect(r.stdout).toContain('child=0');
      // It holds nothing but its stdio (no descriptor the agent may have leaked without CLOEXEC).
      expect(readdirSync(`/proc/${s.pid}/fd`).map(Number).sort()).toEqual([0, 1, 2]);
    } finally {
      await stop(spec, s);
    }
  });

  it('--init as another uid: shoal-init\'s /proc files stay root\'s, the entrypoint\'s are its uid\'s', async () => {
    // /proc/<pid>/ files of a dumpable process belong to its uid, those of a non-dumpable one
    // to root. (Here the kernel's own rule, a uid change makes a process non-dumpable, agrees.)
    const spec = makeSpec(['sleep', '1000'], { init: true }, { user: USER });
    const s = await start(spec);
    try {
      expect(readFileSync(`/proc/${s.pid}/status`, 'utf8')).toMatch(/^Uid:\t1000\t1000\t1000\t1000$/m);
      expect(statSync(`/proc/${s.pid}/environ`).uid).toBe(0);
      const child = readFileSync(`/proc/${s.pid}/task/${s.pid}/children`, 'utf8').trim();
      expect(child).toMatch(/^\d+$/);
      expect(statSync(`/proc/${child}/environ`).uid).toBe(1000);
      const r = await exec(spec, s, ['sh', '-c', 'cat /proc/1/environ; echo "environ=$?"; cat /proc/2/environ >/dev/null; echo "child=$?"'], USER);
      expect(r.stdout).toMatch(/environ=[1-9]/);
      expect(r.stdout).toContain('child=0');
    } finally {
      await stop(spec, s);
    }
  });

  it('exec refuses a pid whose start time is not the recorded one, and joins nothing', async () => {
    const spec = makeSpec(['sleep', '1000']);
    const s = await start(spec);
    // A host process of ours stands in for one that got the container's pid after it exited.
    const stranger = spawn('sleep', ['1000'], { stdio: 'ignore' });
    hostProcs.push(stranger);
    try {
      // Made on the host if the exec ran there, in the container's upper dir if it ran inside.
      const touch = (name: string) => ['sh', '-c', `mkdir -p ${base} && touch ${join(base, name)}`];
      const ranOnHost = (name: string) => existsSync(join(base, name));
      const ranInside = (name: string) => existsSync(join(spec.rootfs.upperDir, base, name));
      const ran = (name: string) => ranOnHost(name) || ranInside(name);
      const probeSpec = probeCgroup ? { ...spec, cgroupProcsFiles: [join(probeCgroup, 'cgroup.procs')] } : spec;
      const refused = (e: unknown) => isShoalError(e, 'FailedPrecondition') && /container h\d+ is not running/.test((e as Error).message);

      await expect(exec(probeSpec, { pid: s.pid, pidStartTime: String(Number(s.pidStartTime) + 1) }, touch('tampered'))).rejects.toSatisfy(refused);
      await expect(exec(probeSpec, { pid: stranger.pid ?? 0, pidStartTime: s.pidStartTime }, touch('stranger'))).rejects.toSatisfy(refused);
      expect(ran('tampered')).toBe(false);
      expect(ran('stranger')).toBe(false);
      // Not even the helper itself went into the cgroup (where available: pids.peak counts any member ever).
      if (probeCgroup) expect(readFileSync(join(probeCgroup, 'pids.peak'), 'utf8').trim()).toBe('0');

      // The recorded pid and start time: the same exec runs, in the container.
      const ok = await exec(probeSpec, s, touch('ok'));
      expect(ok.exitCode).toBe(0);
      expect(ranInside('ok')).toBe(true);
      expect(ranOnHost('ok')).toBe(false);
      if (probeCgroup) expect(Number(readFileSync(join(probeCgroup, 'pids.peak'), 'utf8'))).toBeGreaterThan(0);

      // Once PID 1 is gone, the recorded process is no more.
      await stop(spec, s);
      await expect(exec(spec, s, touch('after'))).rejects.toSatisfy(refused);
      expect(ran('after')).toBe(false);
    } finally {
      stranger.kill('SIGKILL');
      await stop(spec, s);
    }
  });
});
