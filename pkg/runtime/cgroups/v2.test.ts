import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectCgroups, createCgroupManager } from './detect.js';
import { CgroupV2Manager, sharesToWeight } from './v2.js';
import type { CgroupOps } from './types.js';

let root: string;
const killed: Array<[number, string]> = [];
const ops: Partial<CgroupOps> = {
  kill: (pid, sig) => {
    killed.push([pid, sig]);
  },
  removeDir: (p) => rm(p, { recursive: true, force: true }),
  sleep: () => Promise.resolve(),
};

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cg2-'));
  await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma\n');
  await writeFile(join(root, 'cgroup.subtree_control'), '');
  killed.length = 0;
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const read = (p: string) => readFile(join(root, p), 'utf8');

describe('cgroup v2 on a fake tree', () => {
  it('is detected as v2 when cgroup.controllers is at the root', () => {
    expect(detectCgroups(root)).toBe(2);
    expect(createCgroupManager({ root, ops }).version).toBe(2);
  });

  it('enables controllers in the parents and writes the limits', async () => {
    const m = new CgroupV2Manager({ root, parent: 'shoal-t', ops });
    // the parent dir would get its cgroup.controllers from the kernel; emulate that on mkdir
    await mkdir(join(root, 'shoal-t'));
    await writeFile(join(root, 'shoal-t', 'cgroup.controllers'), 'cpu memory pids\n');
    const cg = await m.create('c1', { memoryBytes: 64 << 20, cpuQuotaUs: 50_000, cpuShares: 1024, pidsLimit: 50 });
    expect(await read('cgroup.subtree_control')).toBe('+cpuset +cpu +io +memory +pids');
    expect(await read('shoal-t/cgroup.subtree_control')).toBe('+cpu +memory +pids');
    expect(await read('shoal-t/c1/memory.max')).toBe(String(64 << 20));
    expect(await read('shoal-t/c1/cpu.max')).toBe('50000 100000');
    expect(await read('shoal-t/c1/cpu.weight')).toBe('39');
    expect(await read('shoal-t/c1/pids.max')).toBe('50');
    expect(cg.procsFiles()).toEqual([join(root, 'shoal-t/c1/cgroup.procs')]);
    expect(await m.list()).toEqual(['c1']);
  });

  it('converts shares to weight as runc does', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1024)).toBe(39);
  });

  it('reads stats and OOM kills', async () => {
    const m = new CgroupV2Manager({ root, ops });
    const cg = await m.create('c2', { memoryBytes: 1000 });
    const d = join(root, 'shoal', 'c2');
    await writeFile(join(d, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
    await writeFile(join(d, 'memory.current'), '4096\n');
    await writeFile(join(d, 'pids.current'), '3\n');
    await writeFile(join(d, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n');
    expect(await cg.oomKilled()).toBe(false);
    await writeFile(join(d, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
    expect(await cg.stats()).toEqual({ cpuUsageNs: 1_500_000, memoryBytes: 4096, memoryLimit: 1000, pids: 3, oomKillCount: 1 });
    expect(await cg.oomKilled()).toBe(true);
  });

  it('freezes until cgroup.events says frozen, and thaws', async () => {
    const m = new CgroupV2Manager({ root, ops });
    const cg = await m.create('c3', {});
    const d = join(root, 'shoal', 'c3');
    await writeFile(join(d, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    let polls = 0;
    const slow = new CgroupV2Manager({
      root,
      ops: {
        ...ops,
        sleep: async () => {
          if (++polls === 3) await writeFile(join(d, 'cgroup.events'), 'populated 1\nfrozen 1\n');
        },
      },
    }).open('c3');
    await slow.freeze();
    expect(polls).toBe(3);
    expect(await read('shoal/c3/cgroup.freeze')).toBe('1');
    await cg.thaw();
    expect(await read('shoal/c3/cgroup.freeze')).toBe('0');
  });

  it('destroy uses cgroup.kill, waits for tasks to go, removes the dir, and is idempotent', async () => {
    const m = new CgroupV2Manager({ root, ops });
    const d = join(root, 'shoal', 'c4');
    let polls = 0;
    const cg0 = await m.create('c4', {});
    await writeFile(join(d, 'cgroup.kill'), '');
    await writeFile(join(d, 'cgroup.procs'), '101\n102\n');
    const cg = new CgroupV2Manager({
      root,
      ops: {
        ...ops,
        sleep: async () => {
          if (++polls === 2) await writeFile(join(d, 'cgroup.procs'), '');
        },
      },
    }).open('c4');
    await cg.destroy();
    expect(await read('shoal/c4/cgroup.kill').catch(() => 'gone')).toBe('gone');
    expect(killed.map(([p]) => p)).toEqual([101, 102, 101, 102]);
    await cg.destroy();
    await cg0.destroy();
  });

  it('rejects names that would escape the parent', async () => {
    const m = new CgroupV2Manager({ root, ops });
    await expect(m.create('../x', {})).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(() => new CgroupV2Manager({ root, parent: 'a/b' })).toThrow(/invalid cgroup parent/);
  });
});
