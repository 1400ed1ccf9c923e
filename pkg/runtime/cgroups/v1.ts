/**
 * cgroup v1: one hierarchy per controller, each container at `<root>/<controller>/<parent>/<name>`.
 * Controllers used: memory, cpu, cpuacct, pids, freezer, cpuset (copied from the parent so
 * tasks can join), devices (`devices.deny a`, then DEFAULT_DEVICE_RULES of devices.ts).
 * Hierarchies that are co-mounted (`cpu,cpuacct`) are handled once.
 */
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../../api/index.js';
import {
  applyLimitsOrDestroy,
  checkName,
  killAndWait,
  parseFlatKeyed,
  readInt,
  readPids,
  readText,
  resolveOps,
  writeCgroupFile,
} from './fs-util.js';
import { DEFAULT_DEVICE_RULES } from './devices.js';
import type { Cgroup, CgroupLimits, CgroupManager, CgroupManagerOptions, CgroupOps, CgroupStats } from './types.js';

export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'cpuset', 'devices'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export const CPU_PERIOD_US = 100_000;

export class CgroupV1Manager implements CgroupManager {
  readonly version = 1 as const;
  readonly root: string;
  readonly parent: string;
  private readonly ops: CgroupOps;
  /** controller → its mount dir, only for the controllers mounted on this host. */
  private readonly mounts: Map<V1Controller, string>;

  constructor(opts: CgroupManagerOptions = {}) {
    this.root = opts.root ?? '/sys/fs/cgroup';
    this.parent = opts.parent ?? 'shoal';
    checkName(this.parent, 'parent');
    this.ops = resolveOps(opts.ops);
    this.mounts = new Map();
    for (const c of V1_CONTROLLERS) {
      const dir = join(this.root, c);
      if (existsSync(dir)) this.mounts.set(c, dir);
    }
    for (const required of ['memory', 'cpu', 'pids', 'freezer'] as const) {
      if (!this.mounts.has(required)) {
        throw new ShoalError('FailedPrecondition', `cgroup v1: controller ${required} is not mounted under ${this.root}`);
      }
    }
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    checkName(name, 'name');
    const cg = new CgroupV1(name, this.dirsFor(name), this.ops);
    for (const [controller, dir] of cg.dirs) {
      const parentDir = join(this.mounts.get(controller)!, this.parent);
      await mkdir(parentDir, { recursive: true });
      if (controller === 'cpuset') await inheritCpuset(parentDir, join(parentDir, '..'));
      await mkdir(dir, { recursive: true });
      if (controller === 'cpuset') await inheritCpuset(dir, parentDir);
      if (controller === 'devices') {
        await writeCgroupFile(join(dir, 'devices.deny'), 'a');
        for (const rule of DEFAULT_DEVICE_RULES) await writeCgroupFile(join(dir, 'devices.allow'), rule);
      }
    }
    return applyLimitsOrDestroy(cg, limits);
  }

  open(name: string): Cgroup {
    checkName(name, 'name');
    return new CgroupV1(name, this.dirsFor(name), this.ops);
  }

  async list(): Promise<string[]> {
    const names = new Set<string>();
    for (const mount of this.mounts.values()) {
      for (const d of await readdir(join(mount, this.parent), { withFileTypes: true }).catch(() => [])) {
        if (d.isDirectory()) names.add(d.name);
      }
    }
    return [...names];
  }

  /** One directory per distinct hierarchy (co-mounted controllers share one). */
  private dirsFor(name: string): Map<V1Controller, string> {
    const dirs = new Map<V1Controller, string>();
    const seen = new Set<string>();
    for (const [c, mount] of this.mounts) {
      let real = mount;
      try {
        real = realpathSync(mount);
      } catch {
        // keep the plain path
      }
      if (seen.has(real)) continue;
      seen.add(real);
      dirs.set(c, join(mount, this.parent, name));
    }
    // cpuacct co-mounted with cpu: stats read from the cpu dir.
    return dirs;
  }
}

async function inheritCpuset(dir: string, parentDir: string): Promise<void> {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const cur = (await readText(join(dir, f)))?.trim();
    if (cur) continue;
    const fromParent = (await readText(join(parentDir, f)))?.trim();
    if (fromParent) await writeCgroupFile(join(dir, f), fromParent);
  }
}

class CgroupV1 implements Cgroup {
  constructor(
    readonly name: string,
    readonly dirs: Map<V1Controller, string>,
    private readonly ops: CgroupOps,
  ) {}

  private dir(c: V1Controller): string | undefined {
    const d = this.dirs.get(c);
    if (d !== undefined) return d;
    if (c === 'cpuacct') return this.dirs.get('cpu');
    return undefined;
  }

  procsFiles(): string[] {
    return [...this.dirs.values()].map((d) => join(d, 'cgroup.procs'));
  }

  async update(limits: CgroupLimits): Promise<void> {
    const mem = this.dir('memory')!;
    if (limits.memoryBytes !== undefined && limits.memoryBytes > 0) {
      const v = String(limits.memoryBytes);
      const memsw = join(mem, 'memory.memsw.limit_in_bytes');
      const hasMemsw = existsSync(memsw);
      // The kernel keeps limit <= memsw: shrinking lowers the limit first, growing raises memsw first.
      const current = await readInt(join(mem, 'memory.limit_in_bytes'));
      if (hasMemsw && current !== 0 && current < limits.memoryBytes) {
        await writeCgroupFile(memsw, v);
        await writeCgroupFile(join(mem, 'memory.limit_in_bytes'), v);
      } else {
        await writeCgroupFile(join(mem, 'memory.limit_in_bytes'), v);
        if (hasMemsw) await writeCgroupFile(memsw, v);
      }
    }
    const cpu = this.dir('cpu')!;
    if (limits.cpuQuotaUs !== undefined && limits.cpuQuotaUs > 0) {
      await writeCgroupFile(join(cpu, 'cpu.cfs_period_us'), String(limits.cpuPeriodUs ?? CPU_PERIOD_US));
      await writeCgroupFile(join(cpu, 'cpu.cfs_quota_us'), String(limits.cpuQuotaUs));
    }
    if (limits.cpuShares !== undefined && limits.cpuShares > 0) {
      await writeCgroupFile(join(cpu, 'cpu.shares'), String(limits.cpuShares));
    }
    const pids = this.dir('pids');
    if (pids !== undefined && limits.pidsLimit !== undefined) {
      await writeCgroupFile(join(pids, 'pids.max'), limits.pidsLimit > 0 ? String(limits.pidsLimit) : 'max');
    }
  }

  async freeze(signal?: AbortSignal): Promise<void> {
    const f = join(this.dir('freezer')!, 'freezer.state');
    await writeCgroupFile(f, 'FROZEN');
    for (let i = 0; i < 1000; i++) {
      signal?.throwIfAborted();
      const state = (await readText(f))?.trim();
      if (state === 'FROZEN') return;
      if (state === undefined) throw new ShoalError('NotFound', `cgroup ${this.name} does not exist`);
      // FREEZING: ask again (the kernel retries tasks that were busy), then wait a little.
      if (i % 10 === 9) await writeCgroupFile(f, 'FROZEN');
      await this.ops.sleep(i < 20 ? 2 : 10);
    }
    await writeCgroupFile(f, 'THAWED');
    throw new ShoalError('Timeout', `cgroup ${this.name}: freezer did not reach FROZEN`);
  }

  async thaw(): Promise<void> {
    await writeCgroupFile(join(this.dir('freezer')!, 'freezer.state'), 'THAWED');
  }

  async stats(): Promise<CgroupStats> {
    const mem = this.dir('memory')!;
    const limit = await readInt(join(mem, 'memory.limit_in_bytes'));
    const acct = this.dir('cpuacct');
    const pids = this.dir('pids');
    return {
      cpuUsageNs: acct ? await readInt(join(acct, 'cpuacct.usage')) : 0,
      memoryBytes: await readInt(join(mem, 'memory.usage_in_bytes')),
      // The kernel reports "unlimited" as a huge page-aligned number.
      memoryLimit: limit >= 2 ** 62 ? 0 : limit,
      pids: pids ? await readInt(join(pids, 'pids.current')) : 0,
      oomKillCount: await this.oomCount(),
    };
  }

  private async oomCount(): Promise<number> {
    const oc = parseFlatKeyed(await readText(join(this.dir('memory')!, 'memory.oom_control')));
    return oc.get('oom_kill') ?? oc.get('under_oom') ?? 0;
  }

  async oomKilled(): Promise<boolean> {
    return (await this.oomCount()) > 0;
  }

  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const f of this.procsFiles()) for (const p of await readPids(f)) all.add(p);
    return [...all];
  }

  async destroy(signal?: AbortSignal): Promise<void> {
    const freezer = this.dir('freezer');
    if (freezer && existsSync(freezer)) {
      // Frozen tasks cannot die; thaw first.
      await writeCgroupFile(join(freezer, 'freezer.state'), 'THAWED').catch(() => undefined);
    }
    await killAndWait(this.ops, () => this.pids(), signal, this.name);
    // Every controller's directory is tried, so one busy hierarchy does not leave the others behind.
    let first: unknown;
    for (const d of this.dirs.values()) {
      try {
        await this.ops.removeDir(d);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}
