/**
 * Runtime hardening (issue 14), for real, with NativeDriver and a busybox root: exec joins the
 * container through a pidfd checked against PID 1's recorded start time, so a recycled or
 * wrong pid is refused before any cgroup or namespace is joined and nothing runs.
 *
 * Needs root, overlayfs, busybox and the built helper; skips with the reason otherwise.
 * Containers, the host process, cgroups and temp dirs are removed in afterAll, also when a
 * test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
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

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync(HELPER)) return `the native helper is not built (${HELPER}; make native)`;
  if (!haveBusybox()) return 'needs /bin/busybox (busybox-static)';
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'needs overlayfs';
  return undefined;
}
const skip = skipReason();

describe.skipIf(skip !== undefined)(`runtime hardening${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tag = `shoal-test-hd-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let base = '';
  let lower = '';
  const cgroupDirs: string[] = [];
  /** A pids cgroup of its own (v1 here, where the hierarchy exists): pids.peak tells whether anything ever joined it. */
  let probeCgroup: string | undefined;
  const started: Started[] = [];
  const hostProcs: ChildProcess[] = [];
  let seq = 0;
  const driver = new NativeDriver({ binaryPath: HELPER, pollIntervalMs: 50 });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'shoal-harden-'));
    lower = makeBusyboxRootfs(join(base, 'lower'));
    if (existsSync(`${CG}/cgroup.controllers`)) {
      cgroupDirs.push(`${CG}/${tag}`);
    } else {
      for (const c of ['memory', 'cpu', 'pids', 'freezer']) if (existsSync(`${CG}/${c}`)) cgroupDirs.push(`${CG}/${c}/${tag}`);
      if (existsSync(`${CG}/pids/cgroup.procs`)) probeCgroup = `${CG}/pids/${tag}-probe`;
    }
    for (const d of [...cgroupDirs, ...(probeCgroup ? [probeCgroup] : [])]) mkdirSync(d);
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
