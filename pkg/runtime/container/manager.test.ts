import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShoalError } from '../../api/index.js';
import { FakeCgroupManager } from '../cgroups/index.js';
import { FakeDriver } from './fake-driver.js';
import { ContainerManager } from './manager.js';
import type { ImageProvider, NetworkHook } from './types.js';
import type { ImageRuntimeConfig } from '../../api/index.js';

let tmp: string;
let driver: FakeDriver;
let cgroups: FakeCgroupManager;
let images: ImageProvider;
let imageConfig: ImageRuntimeConfig;
let managers: ContainerManager[];
const errors: unknown[] = [];
/** `what` of each onError report. */
const reports: string[] = [];

async function newManager(extra: { network?: NetworkHook; onStarted?: (id: string, seconds: number) => void; defaultLimits?: { pidsLimit?: number; memory?: number } } = {}): Promise<ContainerManager> {
  const m = await ContainerManager.create({
    dataDir: join(tmp, 'data'),
    runDir: join(tmp, 'run'),
    driver,
    cgroups,
    images,
    kill: driver.kill,
    hostResolvConf: join(tmp, 'resolv.conf'),
    onError: (err, what) => {
      errors.push(err);
      reports.push(what);
    },
    ...extra,
  });
  managers.push(m);
  return m;
}

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cm-'));
  const lower = join(tmp, 'lower');
  await mkdir(join(lower, 'etc'), { recursive: true });
  await writeFile(join(lower, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n');
  await writeFile(join(lower, 'etc/group'), 'root:x:0:\nwww:x:33:\naudio:x:29:www\nvideo:x:44:www,root\n');
  await writeFile(join(tmp, 'resolv.conf'), 'nameserver 10.0.0.1\n');
  imageConfig = { Cmd: ['sh'], Env: ['PATH=/bin', 'A=1'], StopSignal: '', WorkingDir: '' };
  images = {
    resolveForRun: (ref) => {
      if (ref === 'missing') return Promise.reject(new ShoalError('NotFound', `no such image: ${ref}`));
      return Promise.resolve({ id: 'sha256:' + 'aa'.repeat(64), ref, config: imageConfig, lowerDirs: [lower] });
    },
  };
  driver = new FakeDriver();
  cgroups = new FakeCgroupManager();
  managers = [];
  errors.length = 0;
  reports.length = 0;
});

afterEach(async () => {
  for (const m of managers) await m.close();
  await rm(tmp, { recursive: true, force: true });
});

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('ContainerManager create', () => {
  it("applies the agent's default limits where a container sets none; an explicit 0 stays unlimited", async () => {
    const m = await newManager({ defaultLimits: { pidsLimit: 4096, memory: 256 << 20 } });
    const a = await m.create({ image: 'img', name: 'dflt' });
    const b = await m.create({ image: 'img', name: 'own', pidsLimit: 0, memory: 0 });
    const c = await m.create({ image: 'img', name: 'mine', pidsLimit: 10 });
    await m.start('dflt');
    await m.start('own');
    await m.start('mine');
    expect(m.inspect('dflt').HostConfig).toMatchObject({ PidsLimit: 4096, Memory: 256 << 20 });
    expect(cgroups.groups.get(a.Id)!.limits).toEqual({ pidsLimit: 4096, memoryBytes: 256 << 20 });
    expect(m.inspect('own').HostConfig).toMatchObject({ PidsLimit: 0, Memory: 0 });
    expect(cgroups.groups.get(b.Id)!.limits).toEqual({});
    expect(cgroups.groups.get(c.Id)!.limits).toEqual({ pidsLimit: 10, memoryBytes: 256 << 20 });
  });

  it('merges the run request with the image config as Docker does', async () => {
    const m = await newManager();
    imageConfig = { Entrypoint: ['/entry'], Cmd: ['serve'], Env: ['PATH=/bin', 'A=1', 'B=2'], WorkingDir: '/app', StopSignal: 'SIGQUIT' };
    const { Id } = await m.create({ image: 'img', name: 'web', env: ['B=3', 'C=4'], user: 'www' });
    const c = m.inspect('web');
    expect(Id).toMatch(/^[0-9a-f]{64}$/);
    expect(c.Name).toBe('/web');
    expect([c.Path, ...c.Args]).toEqual(['/entry', 'serve']);
    expect(c.Config.Env).toEqual(['PATH=/bin', 'A=1', 'B=3', 'C=4', `HOSTNAME=${Id.slice(0, 12)}`, 'HOME=/var/www']);
    expect(c.Config.WorkingDir).toBe('/app');
    expect(c.Config.StopSignal).toBe('SIGQUIT');
    expect(c.State.Status).toBe('created');
    // --entrypoint clears the image Cmd
    const b = await m.create({ image: 'img', entrypoint: ['/bin/echo'] });
    expect([m.inspect(b.Id).Path, ...m.inspect(b.Id).Args]).toEqual(['/bin/echo']);
    // a user cmd replaces Cmd, keeps Entrypoint
    const d = await m.create({ image: 'img', cmd: ['x', 'y'] });
    expect([m.inspect(d.Id).Path, ...m.inspect(d.Id).Args]).toEqual(['/entry', 'x', 'y']);
  });

  it('resolves --user with supplementary groups from the image', async () => {
    const m = await newManager();
    const { Id } = await m.create({ image: 'img', user: 'www' });
    await m.start(Id);
    const spec = [...driver.procs.values()][0]!.spec;
    expect(spec.process.user).toEqual({ uid: 33, gid: 33, additionalGids: [29, 44] });
    await expect(m.create({ image: 'img', user: 'nobody' })).rejects.toMatchObject({ code: 'Invalid' });
    const n = await m.create({ image: 'img', user: '1234:55' });
    expect(m.inspect(n.Id).Config.User).toBe('1234:55');
  });

  it('validates names, refuses duplicates, generates names, and finds by prefix', async () => {
    const m = await newManager();
    await expect(m.create({ image: 'img', name: '-bad' })).rejects.toMatchObject({ code: 'Invalid' });
    await m.create({ image: 'img', name: 'one' });
    await expect(m.create({ image: 'img', name: 'one' })).rejects.toMatchObject({ code: 'AlreadyExists' });
    const { Id } = await m.create({ image: 'img' });
    expect(m.inspect(Id).Name).toMatch(/^\/[a-z]+_[a-z]+\d*$/);
    expect(m.resolve(Id.slice(0, 10))).toBe(Id);
    expect(() => m.inspect('nope')).toThrow(expect.objectContaining({ code: 'NotFound' }) as unknown as Error);
    await expect(m.create({ image: 'missing' })).rejects.toMatchObject({ code: 'NotFound' });
    imageConfig = {};
    await expect(m.create({ image: 'img' })).rejects.toMatchObject({ code: 'Invalid' });
    await expect(m.create({ image: 'img', binds: ['rel:/x'] })).rejects.toMatchObject({ code: 'Invalid' });
  });
});

describe('ContainerManager lifecycle', () => {
  it('starts with the default security settings and the cgroup limits', async () => {
    const hook: NetworkHook & { calls: string[] } = {
      calls: [],
      attach(c, pid) {
        this.calls.push(`attach ${c.networkMode} ${pid}`);
        return Promise.resolve({ networks: { bridge: { IPAddress: '10.0.0.2' } } });
      },
      detach(c) {
        this.calls.push(`detach ${c.id.slice(0, 4)}`);
        return Promise.resolve();
      },
    };
    const m = await newManager({ network: hook });
    const { Id } = await m.create({
      image: 'img',
      name: 'lim',
      memory: 64 << 20,
      nanoCpus: 500_000_000,
      pidsLimit: 50,
      binds: [`${tmp}/vol:/data:ro`],
    });
    await m.start('lim');
    const spec = [...driver.procs.values()][0]!.spec;
    expect(spec.process.capabilities).toHaveLength(14);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.maskedPaths).toContain('/proc/kcore');
    expect(spec.readonlyPaths).toContain('/proc/sysrq-trigger');
    expect(spec.mounts).toEqual([{ source: `${tmp}/vol`, destination: '/data', readOnly: true }]);
    expect(existsSync(`${tmp}/vol`)).toBe(true);
    expect(spec.rootfs.upperDir).toBe(join(tmp, 'data/containers', Id, 'rootfs/upper'));
    expect(spec.network).toBe('new');
    expect(spec.cgroupProcsFiles).toEqual([`/fake-cgroup/${Id}/cgroup.procs`]);
    expect(await readFile(spec.etcFiles.resolvConf!, 'utf8')).toBe('nameserver 10.0.0.1\n');
    expect(await readFile(spec.etcFiles.hostname!, 'utf8')).toBe(`${Id.slice(0, 12)}\n`);
    expect(cgroups.groups.get(Id)!.limits).toEqual({ memoryBytes: 64 << 20, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, pidsLimit: 50 });
    const c = m.inspect('lim');
    expect(c.State).toMatchObject({ Status: 'running', Running: true, Pid: 1000 });
    expect(c.NetworkSettings.Networks).toEqual({ bridge: { IPAddress: '10.0.0.2' } });
    expect(hook.calls).toEqual(['attach bridge 1000']);
    expect(m.list().map((s) => s.Names[0])).toEqual(['/lim']);
    expect(m.list()[0]!.Status).toMatch(/^Up /);
    // state on disk
    const st = JSON.parse(await readFile(join(tmp, 'data/containers', Id, 'state.json'), 'utf8')) as { Status: string };
    expect(st.Status).toBe('running');
    driver.exit(1000, 3);
    expect(await m.wait('lim')).toEqual({ StatusCode: 3, OOMKilled: false });
    expect(m.inspect('lim').State).toMatchObject({ Status: 'exited', ExitCode: 3, Running: false, Pid: 0 });
    expect(cgroups.live()).toHaveLength(0);
    expect(hook.calls).toEqual(['attach bridge 1000', `detach ${Id.slice(0, 4)}`]);
    expect(m.list()).toHaveLength(0);
    expect(m.list({ all: true })[0]!.Status).toMatch(/^Exited \(3\) /);
  });

  it('records an OOM kill when the exit is 137 and the cgroup saw an oom kill', async () => {
    const m = await newManager();
    const { Id } = await m.create({ image: 'img', memory: 1 << 20 });
    await m.start(Id);
    cgroups.groups.get(Id)!.oomKills = 1;
    driver.exit(m.inspect(Id).State.Pid, 137);
    expect(await m.wait(Id)).toEqual({ StatusCode: 137, OOMKilled: true });
    expect(m.inspect(Id).State.OOMKilled).toBe(true);
  });

  it('stop sends the stop signal, then SIGKILL after the timeout', async () => {
    const m = await newManager();
    imageConfig = { Cmd: ['sh'], StopSignal: 'SIGQUIT' };
    const a = await m.create({ image: 'img' });
    await m.start(a.Id);
    await m.stop(a.Id, 5);
    expect(driver.signals.map((s) => s.signal)).toEqual(['SIGQUIT']);
    expect(m.inspect(a.Id).State.ExitCode).toBe(131);

    imageConfig = { Cmd: ['sh'] };
    const b = await m.create({ image: 'img' });
    driver.ignores.set(b.Id, new Set(['SIGTERM']));
    await m.start(b.Id);
    const t0 = Date.now();
    await m.stop(b.Id, 0.2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(driver.signals.slice(1).map((s) => s.signal)).toEqual(['SIGTERM', 'SIGKILL']);
    expect(m.inspect(b.Id).State).toMatchObject({ Status: 'exited', ExitCode: 137, OOMKilled: false });
    // stopping a stopped container is a no-op
    await m.stop(b.Id);
  });

  it('kill, pause, unpause, restart', async () => {
    const m = await newManager();
    const { Id } = await m.create({ image: 'img', name: 'kk' });
    await expect(m.kill('kk')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await m.start('kk');
    await m.pause('kk');
    expect(cgroups.groups.get(Id)!.frozen).toBe(true);
    expect(m.inspect('kk').State).toMatchObject({ Status: 'paused', Paused: true, Running: true });
    await expect(m.pause('kk')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(m.exec('kk', { cmd: ['ls'], stdout: process.stdout, stderr: process.stderr })).rejects.toMatchObject({
      code: 'FailedPrecondition',
    });
    await m.unpause('kk');
    expect(cgroups.groups.get(Id)!.frozen).toBe(false);
    await expect(m.kill('kk', 'NOPE')).rejects.toMatchObject({ code: 'Invalid' });
    const pid1 = m.inspect('kk').State.Pid;
    await m.restart('kk', 1);
    const pid2 = m.inspect('kk').State.Pid;
    expect(pid2).not.toBe(pid1);
    expect(m.inspect('kk').State.Status).toBe('running');
    await m.kill('kk', 'USR1');
    await m.wait('kk');
    expect(m.inspect('kk').State.ExitCode).toBe(138);
  });

  it('remove refuses a running container, -f kills it, and leaves nothing behind', async () => {
    const m = await newManager();
    const { Id } = await m.create({ image: 'img', name: 'rr' });
    await m.start('rr');
    await expect(m.remove('rr')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await m.remove('rr', { force: true });
    expect(driver.running()).toEqual([]);
    expect(cgroups.live()).toHaveLength(0);
    expect(existsSync(join(tmp, 'data/containers', Id))).toBe(false);
    expect(existsSync(join(tmp, 'run/containers', Id))).toBe(false);
    expect(() => m.inspect('rr')).toThrow(/no such container/);
    // the name is free again
    await m.create({ image: 'img', name: 'rr' });
  });

  it('tells onStarted about each start that ran a process, with its latency', async () => {
    const started: [string, number][] = [];
    const m = await newManager({ onStarted: (id, s) => started.push([id, s]) });
    const { Id } = await m.create({ image: 'img', name: 'obs' });
    await m.start(Id);
    await m.start(Id); // already running: not a start
    expect(started).toHaveLength(1);
    expect(started[0]?.[0]).toBe(Id);
    expect(started[0]?.[1]).toBeGreaterThanOrEqual(0);
  });

  it('a failed start leaves the container created, with the error, and no cgroup', async () => {
    const m = await newManager();
    const { Id } = await m.create({ image: 'img' });
    driver.failNextStart = new ShoalError('InvalidArgument', 'exec: "sh": executable file not found');
    await expect(m.start(Id)).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(m.inspect(Id).State).toMatchObject({ Status: 'created', ExitCode: 127, Error: 'exec: "sh": executable file not found' });
    expect(cgroups.live()).toHaveLength(0);
  });

  it('auto-removes (--rm) after the exit, once waiters have the code', async () => {
    const m = await newManager();
    const { Id } = await m.create({ image: 'img', autoRemove: true });
    await m.start(Id);
    const waited = m.wait(Id);
    driver.exit(m.inspect(Id).State.Pid, 7);
    expect((await waited).StatusCode).toBe(7);
    const gone = () => {
      try {
        m.inspect(Id);
        return false;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 100 && !gone(); i++) await tick();
    expect(gone()).toBe(true);
    expect(existsSync(join(tmp, 'data/containers', Id))).toBe(false);
  });

  it('exec runs in the container with merged env and exit code', async () => {
    const m = await newManager();
    const { Id } = await m.create({ image: 'img', env: ['X=1'] });
    await m.start(Id);
    driver.execExitCode = 5;
    const out: string[] = [];
    const stdout = new (await import('node:stream')).Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk.toString());
        cb();
      },
    });
    const r = await m.exec(Id, { cmd: ['ls', '/'], env: ['X=2'], user: 'www', workdir: '/tmp', stdout, stderr: stdout });
    expect(r.exitCode).toBe(5);
    expect(out.join('')).toBe('ran ls /\n');
    const ex = driver.execs[0]!.exec;
    expect(ex.env).toContain('X=2');
    expect(ex.cwd).toBe('/tmp');
    expect(ex.user).toEqual({ uid: 33, gid: 33, additionalGids: [29, 44] });
  });
});

describe('ContainerManager restore', () => {
  it('re-adopts running containers, records exits that happened while down, cleans half-made ones', async () => {
    const m1 = await newManager();
    const a = await m1.create({ image: 'img', name: 'aa' });
    const b = await m1.create({ image: 'img', name: 'bb' });
    const c = await m1.create({ image: 'img', name: 'cc' });
    await m1.start('aa');
    await m1.start('bb');
    await m1.start('cc');
    const pidA = m1.inspect('aa').State.Pid;
    const pidB = m1.inspect('bb').State.Pid;
    await m1.close(); // the agent goes away; containers keep running
    driver.exit(pidA, 42); // exits while the agent is down
    // c: the monitor lost its exit status too (pid reused by another process)
    driver.procs.delete(m1.inspect('cc').State.Pid);
    // a container half-created when the agent crashed
    const half = 'f'.repeat(64);
    await mkdir(join(tmp, 'data/containers', half, 'rootfs/upper'), { recursive: true });
    await writeFile(join(tmp, 'data/containers', half, 'state.json'), '{"Status":"creating"}');
    await mkdir(join(tmp, 'run/containers', 'e'.repeat(64)), { recursive: true });

    const orphan = 'd'.repeat(64);
    await cgroups.create(orphan, {});
    const startsBefore = driver.procs.size;
    const m2 = await newManager();
    expect(driver.procs.size).toBe(startsBefore); // nothing restarted
    expect(m2.inspect('aa').State).toMatchObject({ Status: 'exited', ExitCode: 42 });
    expect(m2.inspect('bb').State).toMatchObject({ Status: 'running', Pid: pidB });
    expect(m2.inspect('cc').State).toMatchObject({ Status: 'exited', ExitCode: 255 });
    expect(m2.inspect('cc').State.Error).toMatch(/lost/);
    expect(existsSync(join(tmp, 'data/containers', half))).toBe(false);
    expect(cgroups.groups.get(orphan)!.destroyed).toBe(true);
    expect(cgroups.groups.get(b.Id)!.destroyed).toBe(false);
    expect(await readdir(join(tmp, 'run/containers'))).toContain(b.Id);
    expect(existsSync(join(tmp, 'run/containers', 'e'.repeat(64)))).toBe(false);
    // the adopted container's exit is still noticed
    driver.exit(pidB, 0);
    expect(await m2.wait('bb')).toEqual({ StatusCode: 0, OOMKilled: false });
    expect(m2.list({ all: true })).toHaveLength(3);
    expect(a.Id).not.toBe(c.Id);
  });

  it('reports and skips a container whose config.json or state.json is damaged; the others are re-adopted, its traces kept', async () => {
    const m1 = await newManager();
    const a = await m1.create({ image: 'img', name: 'aa' });
    const b = await m1.create({ image: 'img', name: 'bb' });
    const c = await m1.create({ image: 'img', name: 'cc' });
    await m1.start('aa');
    await m1.start('bb');
    const pidA = m1.inspect('aa').State.Pid;
    const pidB = m1.inspect('bb').State.Pid;
    await m1.close();
    const stateB = join(tmp, 'data/containers', b.Id, 'state.json');
    const text = await readFile(stateB, 'utf8');
    await writeFile(stateB, text.slice(0, text.length >> 1)); // truncated
    const configC = join(tmp, 'data/containers', c.Id, 'config.json');
    await writeFile(configC, '\0\0garbage');

    const m2 = await newManager();
    expect(m2.inspect('aa').State).toMatchObject({ Status: 'running', Pid: pidA });
    expect(m2.list({ all: true }).map((x) => x.Id)).toEqual([a.Id]);
    expect(() => m2.inspect(b.Id)).toThrow(/no such container/);
    const skipped = reports.filter((r) => r.includes('skipped'));
    expect(skipped).toHaveLength(2);
    expect(skipped.find((r) => r.includes(b.Id))).toContain(`${stateB} is not valid JSON`);
    expect(skipped.find((r) => r.includes(c.Id))).toContain(`${configC} is not valid JSON`);
    // Nothing of a skipped container is removed or killed: someone may repair it.
    expect(await readFile(stateB, 'utf8')).toBe(text.slice(0, text.length >> 1));
    expect(existsSync(join(tmp, 'data/containers', c.Id, 'rootfs/upper'))).toBe(true);
    expect(driver.procs.has(pidB)).toBe(true);
    expect(cgroups.groups.get(b.Id)!.destroyed).toBe(false);
    expect(existsSync(join(tmp, 'run/containers', b.Id))).toBe(true);
    // Its name stays taken by nobody: a new container may use it.
    await m2.create({ image: 'img', name: 'bb' });
  });

  it('takes an unreadable exit.json of a container that exited while down as a lost exit', async () => {
    const m1 = await newManager();
    const { Id } = await m1.create({ image: 'img', name: 'gone' });
    await m1.start(Id);
    const pid = m1.inspect(Id).State.Pid;
    await m1.close();
    driver.exit(pid, 3);
    driver.readExit = () => Promise.reject(new ShoalError('DataLoss', '/run/x/exit.json is not valid JSON'));
    const m2 = await newManager();
    expect(m2.inspect(Id).State).toMatchObject({ Status: 'exited', ExitCode: 255 });
    expect(m2.inspect(Id).State.Error).toMatch(/unreadable: \/run\/x\/exit\.json is not valid JSON/);
    expect(await m2.wait(Id)).toEqual({ StatusCode: 255, OOMKilled: false });
  });
});

describe('ContainerManager when the monitor is lost', () => {
  it('records the exit as lost when waiting fails', async () => {
    const m = await newManager();
    const { Id } = await m.create({ image: 'img' });
    const orig = driver.waitExit.bind(driver);
    driver.waitExit = () => Promise.reject(new Error('monitor vanished'));
    await m.start(Id);
    for (let i = 0; i < 100 && m.inspect(Id).State.Status === 'running'; i++) await tick();
    driver.waitExit = orig;
    expect(m.inspect(Id).State).toMatchObject({ Status: 'exited', ExitCode: 255 });
    expect(m.inspect(Id).State.Error).toMatch(/monitor vanished/);
    expect(errors.length).toBeGreaterThan(0);
  });
});

describe('ContainerManager stdin', () => {
  it('closes stdin after the first attach only for StdinOnce containers', async () => {
    const m = await newManager();
    const once = await m.create({ image: 'img', name: 'once', openStdin: true, stdinOnce: true });
    const keep = await m.create({ image: 'img', name: 'keep', openStdin: true });
    await m.start(once.Id);
    await m.start(keep.Id);
    await m.stdinEnded('once');
    await m.stdinEnded('keep');
    // The fake driver's monitor pid is the container pid + 100000.
    const pid = m.inspect('once').State.Pid;
    expect(pid).toBeGreaterThan(0);
    expect(driver.stdinClosed).toEqual([pid + 100_000]);
  });
});
