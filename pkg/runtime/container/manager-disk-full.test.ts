/**
 * The container manager on a full disk, without root: util's writeJsonAtomic is wrapped so a
 * chosen write fails with ENOSPC (as explainNoSpace reports it). The real thing, on a small
 * tmpfs, is test/e2e/agent-faults.test.ts.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isShoalError } from '../../api/index.js';
import type * as Util from '../../util/index.js';
import { FakeCgroupManager } from '../cgroups/index.js';
import { FakeDriver } from './fake-driver.js';
import { ContainerManager } from './manager.js';

/** Which writes of writeJsonAtomic fail: (file name, the value written). */
const disk = vi.hoisted(() => ({ full: (_file: string, _value: unknown): boolean => false }));

vi.mock('../../util/index.js', async (importOriginal) => {
  const orig = await importOriginal<typeof Util>();
  return {
    ...orig,
    writeJsonAtomic: async (path: string, value: unknown, mode?: number): Promise<void> => {
      if (disk.full(basename(path), value)) {
        throw await orig.explainNoSpace(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), path);
      }
      return orig.writeJsonAtomic(path, value, mode);
    },
  };
});

const status = (v: unknown): string | undefined => (v as { Status?: string }).Status;

let tmp: string;
let driver: FakeDriver;
let cgroups: FakeCgroupManager;
let m: ContainerManager;
const reports: string[] = [];

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cm-full-'));
  const lower = join(tmp, 'lower');
  await mkdir(join(lower, 'etc'), { recursive: true });
  await writeFile(join(lower, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  driver = new FakeDriver();
  cgroups = new FakeCgroupManager();
  disk.full = () => false;
  reports.length = 0;
  m = await ContainerManager.create({
    dataDir: join(tmp, 'data'),
    runDir: join(tmp, 'run'),
    driver,
    cgroups,
    images: { resolveForRun: (ref) => Promise.resolve({ id: `sha256:${'aa'.repeat(32)}`, ref, config: { Cmd: ['sh'] }, lowerDirs: [lower] }) },
    kill: driver.kill,
    hostResolvConf: join(tmp, 'missing-resolv.conf'),
    onError: (_err, what) => reports.push(what),
  });
});

afterEach(async () => {
  await m.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('ContainerManager on a full disk', () => {
  it('create fails with a FailedPrecondition naming the filesystem, and leaves nothing behind', async () => {
    disk.full = () => true;
    const err = await m.create({ image: 'img', name: 'web' }).catch((e: unknown) => e);
    expect(isShoalError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toMatch(/^no space left on device while writing .*\/containers\/[0-9a-f]{64}\/state\.json: the filesystem (mounted at|of) .* is full/);
    expect(await readdir(join(tmp, 'data/containers'))).toEqual([]);
    expect(m.list({ all: true })).toEqual([]);
    disk.full = () => false;
    await m.create({ image: 'img', name: 'web' }); // the name was not kept
  });

  it('a start whose running state cannot be recorded is undone: process killed, cgroup gone, the container as it was', async () => {
    const { Id } = await m.create({ image: 'img', name: 'web' });
    disk.full = (file, v) => file === 'state.json' && status(v) === 'running';
    const err = await m.start(Id).catch((e: unknown) => e);
    expect(isShoalError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toMatch(/no space left on device/);
    expect(driver.running()).toEqual([]);
    expect(cgroups.live()).toEqual([]);
    expect(m.inspect(Id).State).toMatchObject({ Status: 'created', ExitCode: 127, Pid: 0 });
    expect(m.inspect(Id).State.Error).toMatch(/no space left on device/);
    expect(status(JSON.parse(await readFile(join(tmp, 'data/containers', Id, 'state.json'), 'utf8')))).toBe('created');
    expect(await m.wait(Id)).toEqual({ StatusCode: 127, OOMKilled: false });
    disk.full = () => false;
    await m.start(Id); // space is back
    expect(m.inspect(Id).State.Status).toBe('running');
  });

  it('an exit that cannot be recorded is reported; waiters still get the code, and rm still works', async () => {
    const { Id } = await m.create({ image: 'img', name: 'web' });
    await m.start(Id);
    disk.full = (file) => file === 'state.json';
    driver.exit(m.inspect(Id).State.Pid, 3);
    expect(await m.wait(Id)).toEqual({ StatusCode: 3, OOMKilled: false });
    expect(reports.some((r) => r.includes(`recording the state of container ${Id}`))).toBe(true);
    // `rm` on the full disk: the removal marker is config.json unlinked, and everything goes.
    await m.remove(Id);
    expect(existsSync(join(tmp, 'data/containers', Id))).toBe(false);
    expect(m.list({ all: true })).toEqual([]);
  });

  it('pause is undone when it cannot be recorded', async () => {
    const { Id } = await m.create({ image: 'img', name: 'web' });
    await m.start(Id);
    disk.full = (file, v) => file === 'state.json' && status(v) === 'paused';
    await expect(m.pause(Id)).rejects.toThrow(/no space left on device/);
    expect(m.inspect(Id).State.Status).toBe('running');
    expect(cgroups.groups.get(Id)!.frozen).toBe(false);
  });
});
