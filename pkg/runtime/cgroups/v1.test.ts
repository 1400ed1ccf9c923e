import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectCgroups } from './detect.js';
import { CgroupV1Manager } from './v1.js';
import type { CgroupOps } from './types.js';

let root: string;
const killed: number[] = [];
const ops: Partial<CgroupOps> = {
  kill: (pid) => {
    killed.push(pid);
  },
  removeDir: (p) => rm(p, { recursive: true, force: true }),
  sleep: () => Promise.resolve(),
};

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cg1-'));
  for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'cpuset', 'devices', 'unified']) await mkdir(join(root, c));
  await writeFile(join(root, 'cpuset', 'cpuset.cpus'), '0-1\n');
  await writeFile(join(root, 'cpuset', 'cpuset.mems'), '0\n');
  killed.length = 0;
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const read = (p: string) => readFile(join(root, p), 'utf8');

describe('cgroup v1 on a fake tree', () => {
  it('a hybrid host with an empty unified mount counts as v1', () => {
    expect(detectCgroups(root)).toBe(1);
  });

  it('creates one dir per controller with limits, cpuset inherited, devices allow-list', async () => {
    const m = new CgroupV1Manager({ root, parent: 'p1', ops });
    // memsw exists only where swap accounting is on; emulate it
    await mkdir(join(root, 'memory', 'p1', 'c1'), { recursive: true });
    await writeFile(join(root, 'memory', 'p1', 'c1', 'memory.memsw.limit_in_bytes'), '9223372036854771712\n');
    const cg = await m.create('c1', { memoryBytes: 64 << 20, cpuQuotaUs: 50_000, cpuShares: 512, pidsLimit: 50 });
    expect(await read('memory/p1/c1/memory.limit_in_bytes')).toBe(String(64 << 20));
    expect(await read('memory/p1/c1/memory.memsw.limit_in_bytes')).toBe(String(64 << 20));
    expect(await read('cpu/p1/c1/cpu.cfs_quota_us')).toBe('50000');
    expect(await read('cpu/p1/c1/cpu.cfs_period_us')).toBe('100000');
    expect(await read('cpu/p1/c1/cpu.shares')).toBe('512');
    expect(await read('pids/p1/c1/pids.max')).toBe('50');
    expect(await read('cpuset/p1/cpuset.cpus')).toBe('0-1');
    expect(await read('cpuset/p1/c1/cpuset.mems')).toBe('0');
    expect(await read('devices/p1/c1/devices.deny')).toBe('a');
    expect(await read('devices/p1/c1/devices.allow')).toBe('c 136:* rwm'); // last rule written
    expect(await m.list()).toEqual(['c1']);
    expect(cg.procsFiles().sort()).toEqual(
      ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'cpuset', 'devices'].map((c) => join(root, c, 'p1', 'c1', 'cgroup.procs')).sort(),
    );
  });

  it('keeps limit <= memsw when growing and shrinking', async () => {
    const m = new CgroupV1Manager({ root, ops });
    const dir = join(root, 'memory', 'shoal', 'c5');
    await mkdir(dir, { recursive: true });
    // emulate the kernel: refuse a memsw below the limit (checked on write order)
    await writeFile(join(dir, 'memory.limit_in_bytes'), '9223372036854771712');
    await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), '9223372036854771712');
    const cg = await m.create('c5', { memoryBytes: 100 });
    expect(await read('memory/shoal/c5/memory.limit_in_bytes')).toBe('100');
    expect(await read('memory/shoal/c5/memory.memsw.limit_in_bytes')).toBe('100');
    await cg.update({ memoryBytes: 200 });
    expect(await read('memory/shoal/c5/memory.limit_in_bytes')).toBe('200');
    expect(await read('memory/shoal/c5/memory.memsw.limit_in_bytes')).toBe('200');
  });

  it('reads stats and the oom_kill count', async () => {
    const m = new CgroupV1Manager({ root, ops });
    const cg = await m.create('c2', {});
    await writeFile(join(root, 'memory/shoal/c2/memory.usage_in_bytes'), '8192\n');
    await writeFile(join(root, 'memory/shoal/c2/memory.limit_in_bytes'), '9223372036854771712\n');
    await writeFile(join(root, 'cpuacct/shoal/c2/cpuacct.usage'), '123456\n');
    await writeFile(join(root, 'pids/shoal/c2/pids.current'), '2\n');
    await writeFile(join(root, 'memory/shoal/c2/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
    expect(await cg.oomKilled()).toBe(false);
    await writeFile(join(root, 'memory/shoal/c2/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    expect(await cg.stats()).toEqual({ cpuUsageNs: 123456, memoryBytes: 8192, memoryLimit: 0, pids: 2, oomKillCount: 2 });
    expect(await cg.oomKilled()).toBe(true);
  });

  it('freezes (a plain file reads FROZEN at once) and thaws', async () => {
    const m = new CgroupV1Manager({ root, ops });
    const cg = await m.create('c3', {});
    await cg.freeze();
    expect(await read('freezer/shoal/c3/freezer.state')).toBe('FROZEN');
    await cg.thaw();
    expect(await read('freezer/shoal/c3/freezer.state')).toBe('THAWED');
  });

  it('destroy kills the tasks, removes every dir and is idempotent', async () => {
    const m = new CgroupV1Manager({ root, ops });
    const cg = await m.create('c4', {});
    await writeFile(join(root, 'pids/shoal/c4/cgroup.procs'), '7\n8\n');
    await writeFile(join(root, 'memory/shoal/c4/cgroup.procs'), '7\n');
    // processes vanish after the first SIGKILL round
    const m2 = new CgroupV1Manager({
      root,
      ops: {
        ...ops,
        sleep: async () => {
          await writeFile(join(root, 'pids/shoal/c4/cgroup.procs'), '');
          await writeFile(join(root, 'memory/shoal/c4/cgroup.procs'), '');
        },
      },
    });
    await m2.open('c4').destroy();
    expect(killed.sort()).toEqual([7, 8]);
    for (const c of ['memory', 'cpu', 'pids', 'freezer', 'devices']) expect(existsSync(join(root, c, 'shoal', 'c4'))).toBe(false);
    await cg.destroy();
  });

  it('refuses a host without the required controllers', async () => {
    await rm(join(root, 'freezer'), { recursive: true });
    expect(() => new CgroupV1Manager({ root })).toThrow(/freezer is not mounted/);
  });
});
