/**
 * The native helper, for real: a busybox root filesystem as the single overlay lower, our own
 * cgroups, NativeDriver directly (no agent). Needs root, overlayfs and the built helper
 * (native/build/shoal-runtime); skips with the reason otherwise. Every container, cgroup and
 * temp dir is removed in afterAll, also when a test fails.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShoalError } from '../../pkg/api/index.js';
import type { LaunchSpec, Started } from '../../pkg/runtime/index.js';
import { encodeStartConfig, NativeDriver } from '../../pkg/runtime/index.js';
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

/** Docker's 14 default capabilities: CapEff 00000000a80425fb. */
const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
const MASKED = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap'];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

describe.skipIf(skip !== undefined)(`native helper isolation${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tag = `shoal-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let base = '';
  let lower = '';
  const cgroupDirs: string[] = [];
  const started: Started[] = [];
  let seq = 0;
  const driver = new NativeDriver({ binaryPath: HELPER, pollIntervalMs: 50 });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'shoal-iso-'));
    lower = makeBusyboxRootfs(join(base, 'lower'));
    if (existsSync(`${CG}/cgroup.controllers`)) {
      cgroupDirs.push(`${CG}/${tag}`);
    } else {
      for (const c of ['memory', 'cpu', 'pids', 'freezer']) if (existsSync(`${CG}/${c}`)) cgroupDirs.push(`${CG}/${c}/${tag}`);
    }
    for (const d of cgroupDirs) mkdirSync(d);
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
    for (const d of cgroupDirs) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          await sleep(100);
        }
      }
    }
    if (base) await rm(base, { recursive: true, force: true });
  });

  function procsFiles(): string[] {
    return cgroupDirs.map((d) => join(d, 'cgroup.procs'));
  }

  function makeSpec(args: string[], over: Partial<LaunchSpec> = {}, proc: Partial<LaunchSpec['process']> = {}): LaunchSpec {
    const id = `c${++seq}`;
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
        user: { uid: 0, gid: 0, additionalGids: [] },
        noNewPrivileges: true,
        capabilities: DEFAULT_CAPS,
        rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }],
        openStdin: false,
        ...proc,
      },
      mounts: [],
      etcFiles: {},
      network: 'none',
      cgroupProcsFiles: procsFiles(),
      seccomp: 'default',
      init: false,
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
      ...over,
    };
  }

  async function start(spec: LaunchSpec, d = driver): Promise<Started> {
    const s = await d.start(spec);
    started.push(s);
    return s;
  }

  interface LogLine {
    log: string;
    stream: 'stdout' | 'stderr';
    time: string;
  }

  async function readLog(path: string): Promise<LogLine[]> {
    const text = await readFile(path, 'utf8');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
  }

  async function run(args: string[], over: Partial<LaunchSpec> = {}, proc: Partial<LaunchSpec['process']> = {}) {
    const spec = makeSpec(args, over, proc);
    const s = await start(spec);
    const exit = await driver.waitExit(spec.stateDir, AbortSignal.timeout(30_000));
    const lines = await readLog(spec.logPath);
    const out = (stream: string) => lines.filter((l) => l.stream === stream).map((l) => l.log).join('');
    return { spec, started: s, exit, lines, stdout: out('stdout'), stderr: out('stderr') };
  }

  it('PID 1 is the entrypoint and no host process is visible', async () => {
    const r = await run(['sh', '-c', 'tr "\\0" " " </proc/1/cmdline; echo; ls /proc | grep -E "^[0-9]+$" | tr "\\n" " "']);
    expect(r.exit.exitCode).toBe(0);
    const [cmdline, pids] = r.stdout.split('\n');
    expect(cmdline).toMatch(/^sh -c /);
    const nums = (pids ?? '').trim().split(/\s+/).map(Number);
    expect(nums).toContain(1);
    expect(nums.every((n) => n < 10)).toBe(true);
    expect(nums).not.toContain(process.pid);
  });

  it('has its own hostname and the image as its root', async () => {
    const r = await run(['sh', '-c', 'hostname; cat /image-marker; ls /']);
    expect(r.stdout.split('\n')[0]).toBe(r.spec.hostname);
    expect(r.stdout).toContain('busybox-test-image');
    expect(r.stdout).not.toMatch(/\bnode_modules\b/);
  });

  it("has Docker's capabilities, no_new_privs and a seccomp filter", async () => {
    const r = await run(['cat', '/proc/self/status']);
    expect(r.stdout).toContain('CapEff:\t00000000a80425fb');
    expect(r.stdout).toContain('CapBnd:\t00000000a80425fb');
    expect(r.stdout).toContain('CapInh:\t0000000000000000');
    expect(r.stdout).toContain('NoNewPrivs:\t1');
    expect(r.stdout).toMatch(/Seccomp:\t2/);
  });

  it('the seccomp filter answers EPERM/ENOSYS where Docker does, and lets the rest through', async (ctx) => {
    const probeDir = join(base, 'probe');
    mkdirSync(probeDir, { recursive: true });
    writeFileSync(join(probeDir, 'probe.c'), SECCOMP_PROBE_C);
    try {
      execFileSync('cc', ['-static', '-O1', '-o', join(probeDir, 'probe'), join(probeDir, 'probe.c')], { stdio: 'pipe' });
    } catch {
      ctx.skip('no C compiler (cc -static) to build the probe');
      return;
    }
    const r = await run(['/probe/probe'], { mounts: [{ source: probeDir, destination: '/probe', readOnly: true }] });
    expect(r.exit.exitCode).toBe(0);
    const got = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
    expect(got).toEqual({
      getpid: 'ok',
      fork: 'ok',
      keyctl: 'EPERM',
      add_key: 'EPERM',
      clone3: 'ENOSYS',
      clone_newuser: 'EPERM',
      clone_newnet: 'EPERM',
      unshare: 'EPERM',
      setns: 'EPERM',
      mount: 'EPERM',
      bpf: 'EPERM',
      userfaultfd: 'EPERM',
      perf_event_open: 'EPERM',
      io_uring_setup: 'EPERM',
      kexec_load: 'EPERM',
      init_module: 'EPERM',
      reboot: 'EPERM',
      personality_linux32: 'ok',
      personality_addr_no_randomize: 'EPERM',
    });
    // The same probe unconfined shows the filter is what refuses (getpid etc. still fine).
    const u = await run(['/probe/probe'], { seccomp: 'unconfined', mounts: [{ source: probeDir, destination: '/probe', readOnly: true }] });
    expect(u.stdout).toContain('clone3=');
    expect(u.stdout).not.toContain('clone3=ENOSYS');
  });

  it('mounts an overlay whose option string exceeds a page (many long layer paths)', async () => {
    const layers: string[] = [];
    for (let i = 0; i < 80; i++) {
      const l = join(base, 'layers', `${'x'.repeat(60)}-${String(i).padStart(3, '0')}`);
      mkdirSync(join(l, 'layers'), { recursive: true });
      writeFileSync(join(l, 'layers', `from-${i}`), `${i}\n`);
      writeFileSync(join(l, 'which'), `${i}\n`);
      layers.push(l);
    }
    const spec = makeSpec(['sh', '-c', 'cat /which; ls /layers | wc -l; cat /image-marker']);
    spec.rootfs.lowerDirs = [...layers, lower];
    const s = await start(spec);
    expect(s.pid).toBeGreaterThan(0);
    await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
    const out = (await readLog(spec.logPath)).map((l) => l.log).join('');
    expect(out).toBe('0\n80\nbusybox-test-image\n'); // top layer first
  });

  it('refuses unshare, mount and namespace-creating clone', async () => {
    const r = await run(['sh', '-c', 'unshare -n true; echo "unshare=$?"; mount -t tmpfs x /mnt; echo "mount=$?"; unshare -m true; echo "unshare-m=$?"']);
    expect(r.stdout).toMatch(/unshare=[1-9]/);
    expect(r.stdout).toMatch(/mount=[1-9]/);
    expect(r.stdout).toMatch(/unshare-m=[1-9]/);
  });

  it('masks and write-protects /proc paths', async () => {
    const r = await run(['sh', '-c', 'echo "kcore=$(cat /proc/kcore 2>/dev/null | wc -c)"; echo "timer=$(cat /proc/timer_list | wc -c)"; echo 1 >/proc/sys/vm/drop_caches; echo "sys=$?"; echo "fw=$(ls /sys/firmware | wc -l)"']);
    expect(r.stdout).toContain('kcore=0\n');
    expect(r.stdout).toContain('timer=0\n');
    expect(r.stdout).toMatch(/sys=[1-9]/);
    expect(r.stdout).toContain('fw=0\n');
  });

  it('builds /dev, a read-only /sys and a read-only cgroupfs, with only loopback networking', async () => {
    const r = await run(['sh', '-c', 'ls /dev | tr "\\n" " "; echo; echo x >/dev/null && echo devnull-ok; touch /sys/x; echo "sys=$?"; ls /sys/fs/cgroup | wc -l; touch /sys/fs/cgroup/x; echo "cg=$?"; ls /sys/class/net | tr "\\n" " "; echo; cat /proc/self/cgroup | head -3']);
    const lines = r.stdout.split('\n');
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr']) {
      expect(lines[0]?.split(' ')).toContain(d);
    }
    expect(r.stdout).toContain('devnull-ok');
    expect(r.stdout).toMatch(/sys=[1-9]/);
    expect(Number(lines[3])).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/cg=[1-9]/);
    expect(lines[5]?.trim()).toBe('lo');
    // cgroup namespace: the container sees its own cgroup as the root.
    for (const l of lines.slice(6).filter(Boolean)) expect(l).toMatch(/:\/$/);
  });

  it('leaks no host file descriptor into the container or an exec (CVE-2024-21626)', async () => {
    const r = await run(['sh', '-c', 'ls /proc/self/fd | tr "\\n" " "']);
    expect(r.stdout.trim().split(' ').map(Number).sort()).toEqual([0, 1, 2, 3]); // 3: ls's own directory fd
    const spec = makeSpec(['sleep', '1000']);
    const s = await start(spec);
    try {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (b: Buffer) => chunks.push(b));
      await driver.exec(spec, s, { args: ['ls', '/proc/self/fd'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, stdout: out, stderr: new PassThrough() });
      expect(Buffer.concat(chunks).toString().trim().split('\n').map(Number).sort()).toEqual([0, 1, 2, 3]);
    } finally {
      process.kill(s.pid, 'SIGKILL');
      await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
    }
  });

  it('shares the host network namespace in host mode', async () => {
    const r = await run(['sh', '-c', 'ls /sys/class/net | wc -l; readlink /proc/self/ns/net'], { network: 'host' });
    expect(Number(r.stdout.split('\n')[0])).toBe(readdirSync('/sys/class/net').length);
    expect(r.stdout.split('\n')[1]).toBe(execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).trim());
  });

  it('passes exit codes through, and 137 for SIGKILL', async () => {
    expect((await run(['sh', '-c', 'exit 3'])).exit.exitCode).toBe(3);
    const spec = makeSpec(['sleep', '1000']);
    const s = await start(spec);
    expect(await driver.isRunning(s.pid, s.pidStartTime)).toBe(true);
    expect(await driver.readExit(spec.stateDir)).toBeUndefined();
    process.kill(s.pid, 'SIGKILL');
    const exit = await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
    expect(exit.exitCode).toBe(137);
    expect(exit.signal).toBe('SIGKILL');
    expect(await driver.isRunning(s.pid, s.pidStartTime)).toBe(false);
    expect(await driver.readExit(spec.stateDir)).toEqual(exit);
    // A restart in the same state dir: the old exit must not answer for the new run.
    const again = await start({ ...spec, process: { ...spec.process, args: ['sh', '-c', 'sleep 0.3; exit 4'] } });
    expect(await driver.readExit(spec.stateDir)).toBeUndefined();
    expect(again.pid).not.toBe(s.pid);
    expect((await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000))).exitCode).toBe(4);
  });

  it('writes stdout and stderr as JSON lines, and rotates by size', async () => {
    const r = await run(['sh', '-c', 'echo out; echo err >&2; printf "h\\303\\251 \\377 \\001\\n"; printf "no newline"']);
    expect(r.lines).toContainEqual(expect.objectContaining({ log: 'hé \ufffd \u0001\n', stream: 'stdout' }));
    expect(readFileSync(r.spec.logPath, 'latin1')).toContain('"h\xc3\xa9 \\ufffd \\u0001\\n"'); // valid UTF-8 on disk
    expect(r.lines).toContainEqual(expect.objectContaining({ log: 'out\n', stream: 'stdout' }));
    expect(r.lines).toContainEqual(expect.objectContaining({ log: 'err\n', stream: 'stderr' }));
    expect(r.lines).toContainEqual(expect.objectContaining({ log: 'no newline', stream: 'stdout' }));
    for (const l of r.lines) expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const big = await run(['sh', '-c', 'i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); done'], { logMaxBytes: 4096, logMaxFiles: 2 });
    expect(existsSync(`${big.spec.logPath}.1`)).toBe(true);
    expect(existsSync(`${big.spec.logPath}.2`)).toBe(false);
    expect(readFileSync(big.spec.logPath).length).toBeLessThanOrEqual(4096);
    expect(big.stdout).toContain('line 299\n');
  });

  it('--init: PID 1 is the reaper, signals are forwarded and the exit code passes', async () => {
    const r = await run(['sh', '-c', 'cat /proc/1/comm; readlink /proc/1/exe; echo x >>/proc/1/exe; echo "write=$?"; exit 7'], { init: true });
    expect(r.exit.exitCode).toBe(7);
    expect(r.stdout.split('\n')[0]).toBe('shoal-init');
    expect(r.stdout).not.toContain('shoal-runtime'); // not dumpable: the container cannot even read the link
    expect(r.stdout).toMatch(/write=[1-9]/);
    const spec = makeSpec(['sleep', '1000'], { init: true });
    const s = await start(spec);
    expect(readlinkSync(`/proc/${s.pid}/exe`)).toContain('memfd:shoal-runtime'); // CVE-2019-5736: a sealed copy, not the file
    process.kill(s.pid, 'SIGTERM');
    expect((await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000))).exitCode).toBe(143);
  });

  it('exec runs inside the container with the same security settings', async () => {
    const spec = makeSpec(['sleep', '1000']);
    const s = await start(spec);
    try {
      await execChecks(spec, s);
    } finally {
      process.kill(s.pid, 'SIGKILL');
      await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
    }
  });

  async function execChecks(spec: LaunchSpec, s: Started): Promise<void> {
    const exec = async (args: string[], user = { uid: 0, gid: 0, additionalGids: [] as number[] }) => {
      const out = new PassThrough();
      const err = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (b: Buffer) => chunks.push(b));
      const res = await driver.exec(spec, s, { args, env: ['PATH=/bin'], cwd: '/', user, stdout: out, stderr: err });
      return { ...res, out: Buffer.concat(chunks).toString() };
    };
    const id = await exec(['id']);
    expect(id.exitCode).toBe(0);
    expect(id.out).toMatch(/^uid=0\(root\) gid=0\(root\)/);
    expect((await exec(['hostname'])).out).toBe(`${spec.hostname}\n`);
    expect((await exec(['sh', '-c', 'exit 5'])).exitCode).toBe(5);
    const st = await exec(['cat', '/proc/self/status']);
    expect(st.out).toContain('CapEff:\t00000000a80425fb');
    expect(st.out).toContain('NoNewPrivs:\t1');
    expect(st.out).toContain('Seccomp:\t2');
    expect((await exec(['id', '-u'], { uid: 65534, gid: 65534, additionalGids: [] })).out).toBe('65534\n');
    // The exec'd process is in the container's PID namespace and cgroups.
    const ps = await exec(['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']);
    expect(ps.out).toBe('sleep 1000 ');
    const stdin = Readable.from([Buffer.from('from stdin\n')]);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (b: Buffer) => chunks.push(b));
    await driver.exec(spec, s, { args: ['cat'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, stdin, stdout: out, stderr: new PassThrough() });
    expect(Buffer.concat(chunks).toString()).toBe('from stdin\n');
    await expect(exec(['no-such-command'])).rejects.toSatisfy((e) => isShoalError(e, 'InvalidArgument'));
    // A background child keeping stdout open does not hold the exec hostage.
    const t0 = Date.now();
    const bg = await exec(['sh', '-c', 'sleep 30 & echo started-bg']);
    expect(bg).toEqual({ exitCode: 0, out: 'started-bg\n' });
    expect(Date.now() - t0).toBeLessThan(10_000);
  }

  it('applies the user, groups and working directory', async () => {
    const r = await run(['sh', '-c', 'id; pwd; grep CapEff /proc/self/status; umask'], {}, { user: { uid: 65534, gid: 65534, additionalGids: [1, 2] }, cwd: '/tmp' });
    expect(r.stdout).toContain('uid=65534(nobody) gid=65534(nogroup)');
    expect(r.stdout).toMatch(/groups=.*\b1\b.*\b2\b/);
    expect(r.stdout).toContain('/tmp\n');
    expect(r.stdout).toContain('CapEff:\t0000000000000000');
    expect(r.stdout).toContain('0022\n');
  });

  it('bind mounts (read-only too) and /etc files', async () => {
    const data = join(base, 'data');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'hello'), 'host file\n');
    const hosts = join(base, 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost shoal-test\n');
    const r = await run(['sh', '-c', 'cat /data/hello; touch /data/new; echo "ro=$?"; touch /rw/new; echo "rw=$?"; cat /etc/hosts'], {
      mounts: [
        { source: data, destination: '/data', readOnly: true },
        { source: data, destination: '/rw/deep', readOnly: false },
      ],
      etcFiles: { hosts },
    });
    expect(r.stdout).toContain('host file');
    expect(r.stdout).toMatch(/ro=[1-9]/);
    expect(r.stdout).toContain('shoal-test');
    expect(existsSync(join(data, 'new'))).toBe(false);
  });

  it('keeps stdin open when asked and attachStdin feeds it', async () => {
    const spec = makeSpec(['head', '-n', '1'], {}, { openStdin: true });
    await start(spec);
    const w = await driver.attachStdin(spec.stateDir);
    await new Promise<void>((res, rej) => w.end('hello stdin\n', () => res()).on('error', rej));
    const exit = await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
    expect(exit.exitCode).toBe(0);
    expect((await readLog(spec.logPath)).map((l) => l.log)).toContain('hello stdin\n');
    await expect(driver.attachStdin(spec.stateDir)).rejects.toSatisfy((e) => isShoalError(e, 'FailedPrecondition'));
  });

  it('refuses a missing command, a bad cwd and a symlinked /proc, leaving nothing behind', async () => {
    const before = mountsUnder(base);
    await expect(run(['no-such-binary'])).rejects.toSatisfy((e) => isShoalError(e, 'InvalidArgument'));
    await expect(run(['true'], {}, { cwd: '/does/not/exist' })).rejects.toSatisfy((e) => isShoalError(e, 'InvalidArgument'));
    const evil = join(base, 'evil-lower');
    mkdirSync(join(evil, 'bin'), { recursive: true });
    symlinkSync('/tmp', join(evil, 'proc'));
    expect(lstatSync(join(evil, 'proc')).isSymbolicLink()).toBe(true);
    for (const d of ['eu', 'ew']) mkdirSync(join(base, d));
    await expect(run(['/bin/true'], { rootfs: { lowerDirs: [evil, lower], upperDir: join(base, 'eu'), workDir: join(base, 'ew') } }))
      .rejects.toSatisfy((e) => isShoalError(e, 'InvalidArgument'));
    await sleep(100);
    expect(cgroupPids()).toEqual([]);
    expect(mountsUnder(base)).toEqual(before);
  });

  it('kills the half-made container when onCreated fails', async () => {
    const spec = makeSpec(['sleep', '1000']);
    let created = 0;
    await expect(driver.start(spec, {
      onCreated: async (pid) => {
        created = pid;
        expect(readdirSync(`/proc/${pid}/ns`)).toContain('net');
        throw new Error('network hook failed');
      },
    })).rejects.toThrow(/network hook failed/);
    expect(created).toBeGreaterThan(0);
    for (let i = 0; i < 50 && existsSync(`/proc/${created}`); i++) await sleep(50);
    expect(existsSync(`/proc/${created}`)).toBe(false);
    expect(existsSync(join(spec.stateDir, 'pid.json'))).toBe(false);
  });

  it('leaves no mount and no process after the container exits', async () => {
    const before = mountsUnder(base);
    const r = await run(['sh', '-c', 'sleep 0.2 & echo bg']);
    expect(r.exit.exitCode).toBe(0);
    for (let i = 0; i < 50 && existsSync(`/proc/${r.started.monitorPid}`); i++) await sleep(50);
    expect(existsSync(`/proc/${r.started.monitorPid}`)).toBe(false);
    expect(cgroupPids()).toEqual([]);
    expect(mountsUnder(base)).toEqual(before);
    expect(before).toEqual([]);
  });

  it('20 start/exit cycles leave no fd in the driver process, no mount and no process', async () => {
    await run(['true']); // warm-up: libuv keeps its inotify fd once fs.watch was used
    const fds = readdirSync('/proc/self/fd').length;
    const mounts = mountsUnder(base);
    for (let i = 0; i < 20; i++) {
      const r = await run(['true']);
      expect(r.exit.exitCode).toBe(0);
    }
    for (let i = 0; i < 50 && readdirSync('/proc/self/fd').length > fds; i++) await sleep(20);
    expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fds);
    expect(mountsUnder(base)).toEqual(mounts);
    expect(cgroupPids()).toEqual([]);
  });

  it('survives the driver: a new NativeDriver waits for a container started by another', async () => {
    const spec = makeSpec(['sh', '-c', 'echo alive; exec sleep 1000']);
    let s: Started | undefined = await start(spec, new NativeDriver({ binaryPath: HELPER }));
    const { pid, pidStartTime, monitorPid } = s;
    s = undefined;
    // The monitor is not our child: it was reparented away when the launcher exited.
    const ppid = Number(readFileSync(`/proc/${monitorPid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
    expect(ppid).not.toBe(process.pid);
    expect(cgroupPids()).toContain(pid);
    const fresh = new NativeDriver({ binaryPath: HELPER, pollIntervalMs: 50 });
    expect(await fresh.isRunning(pid, pidStartTime)).toBe(true);
    expect(await fresh.isRunning(pid, `${pidStartTime}1`)).toBe(false);
    const waiting = fresh.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
    await sleep(200);
    execFileSync('kill', ['-9', String(pid)]);
    expect((await waiting).exitCode).toBe(137);
  });

  it('keeps running when the process that started it is SIGKILLed', async () => {
    const spec = makeSpec(['sh', '-c', 'while true; do echo tick; sleep 0.1; done']);
    // A stand-in agent: a separate node process speaking the protocol, killed with -9.
    const agentJs = `
      const { spawn } = require('node:child_process');
      const h = spawn(process.argv[1], ['start'], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
      const ctl = h.stdio[3];
      ctl.write(Buffer.from(process.argv[2], 'base64'));
      let buf = '';
      ctl.on('data', (d) => {
        buf += d;
        if (buf.includes('created ') && !buf.includes('go-sent')) { buf += 'go-sent'; ctl.write('go\\n'); }
        const m = /started (\\d+) (\\d+) (\\d+)/.exec(buf);
        if (m) process.stdout.write(m[0] + '\\n');
      });
      setInterval(() => {}, 1000);`;
    const agent = spawn(process.execPath, ['-e', agentJs, HELPER, encodeStartConfig(spec).toString('base64')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((res, rej) => {
        let out = '';
        agent.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) res(out.trim());
        });
        agent.once('exit', () => rej(new Error(`agent exited early: ${out}`)));
      });
      const [, pid, startTime, monitorPid] = line.split(' ');
      started.push({ pid: Number(pid), pidStartTime: startTime ?? '', monitorPid: Number(monitorPid) });
      agent.kill('SIGKILL');
      await new Promise((r) => agent.once('exit', r));
      await sleep(300);
      expect(await driver.isRunning(Number(pid), startTime ?? '')).toBe(true);
      const before = (await readLog(spec.logPath)).length;
      await sleep(300);
      expect((await readLog(spec.logPath)).length).toBeGreaterThan(before); // still logging
      process.kill(Number(pid), 'SIGKILL');
      expect((await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000))).exitCode).toBe(137);
    } finally {
      agent.kill('SIGKILL');
    }
  });

  function cgroupPids(): number[] {
    const pids = new Set<number>();
    for (const f of procsFiles()) for (const l of readFileSync(f, 'utf8').split('\n')) if (l) pids.add(Number(l));
    return [...pids];
  }
});

/** Host mount points under `dir` (a container's mounts must never show up here). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp.startsWith(dir));
}

/** Calls syscalls the default filter must refuse (and some it must allow); prints name=result. */
const SECCOMP_PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static void t(const char *n, long r) { printf("%s=%s\n", n, r < 0 ? strerrorname_np(errno) : "ok"); }
static long cl(unsigned long flags) {
  long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, 0, 0);
  return r;
}
int main(void) {
  t("getpid", syscall(SYS_getpid));
  t("fork", cl(0));
  t("keyctl", syscall(SYS_keyctl, 0, -3, 0));
  t("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -3));
  t("clone3", syscall(SYS_clone3, 0, 0));
  t("clone_newuser", cl(CLONE_NEWUSER));
  t("clone_newnet", cl(CLONE_NEWNET));
  t("unshare", unshare(CLONE_NEWNS));
  t("setns", syscall(SYS_setns, 0, 0));
  t("mount", mount("x", "/mnt", "tmpfs", 0, 0));
  t("bpf", syscall(SYS_bpf, 0, 0, 0));
  t("userfaultfd", syscall(SYS_userfaultfd, 0));
  t("perf_event_open", syscall(SYS_perf_event_open, 0, 0, -1, -1, 0));
  t("io_uring_setup", syscall(SYS_io_uring_setup, 1, 0));
  t("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
  t("init_module", syscall(SYS_init_module, 0, 0, ""));
  t("reboot", syscall(SYS_reboot, 0, 0, 0, 0));
  t("personality_linux32", personality(PER_LINUX32));
  personality(PER_LINUX);
  t("personality_addr_no_randomize", personality(ADDR_NO_RANDOMIZE));
  return 0;
}
`;
