/**
 * cgroup v2: the unified hierarchy, each container at `<root>/<parent>/<name>`. The memory,
 * cpu and pids controllers are enabled in the parents' `cgroup.subtree_control`; pausing
 * uses `cgroup.freeze`; destroy uses `cgroup.kill` where the kernel has it.
 *
 * Device access has no files on v2 and is not this manager's to write: the runtime helper
 * attaches a BPF_PROG_TYPE_CGROUP_DEVICE program built from DEFAULT_DEVICE_RULES (devices.ts)
 * to the directory of `procsFiles()` before the container's PID 1 joins it, and refuses to
 * start the container when it cannot (native/runtime/devices.c). The program lives as long
 * as the cgroup: `destroy` (rmdir) releases it, and each start gets a new cgroup.
 */
import { existsSync } from 'node:fs';
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
import type { Cgroup, CgroupLimits, CgroupManager, CgroupManagerOptions, CgroupOps, CgroupStats } from './types.js';
import { CPU_PERIOD_US } from './v1.js';

const WANTED = ['cpuset', 'cpu', 'io', 'memory', 'pids'];

/** runc's conversion of v1 shares [2..262144] to v2 weight [1..10000]. */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 0;
  return Math.floor(1 + ((shares - 2) * 9999) / 262142);
}

export class CgroupV2Manager implements CgroupManager {
  readonly version = 2 as const;
  readonly root: string;
  readonly parent: string;
  private readonly ops: CgroupOps;

  constructor(opts: CgroupManagerOptions = {}) {
    this.root = opts.root ?? '/sys/fs/cgroup';
    this.parent = opts.parent ?? 'shoal';
    checkName(this.parent, 'parent');
    this.ops = resolveOps(opts.ops);
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    checkName(name, 'name');
    const parentDir = join(this.root, this.parent);
    await enableControllers(this.root);
    await mkdir(parentDir, { recursive: true });
    await enableControllers(parentDir);
    const dir = join(parentDir, name);
    await mkdir(dir, { recursive: true });
    const cg = new CgroupV2(name, dir, this.ops);
    return applyLimitsOrDestroy(cg, limits);
  }

  open(name: string): Cgroup {
    checkName(name, 'name');
    return new CgroupV2(name, join(this.root, this.parent, name), this.ops);
  }

  async list(): Promise<string[]> {
    const entries = await readdir(join(this.root, this.parent), { withFileTypes: true }).catch(() => []);
    return entries.filter((d) => d.isDirectory()).map((d) => d.name);
  }
}

/** Enables in `dir`'s subtree the wanted controllers that `dir` itself has. */
async function enableControllers(dir: string): Promise<void> {
  const available = ((await readText(join(dir, 'cgroup.controllers'))) ?? '').trim().split(/\s+/).filter(Boolean);
  const enabled = new Set(((await readText(join(dir, 'cgroup.subtree_control'))) ?? '').trim().split(/\s+/).filter(Boolean));
  const missing = WANTED.filter((c) => available.includes(c) && !enabled.has(c));
  if (missing.length === 0) return;
  await writeCgroupFile(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
}

class CgroupV2 implements Cgroup {
  constructor(
    readonly name: string,
    readonly dir: string,
    private readonly ops: CgroupOps,
  ) {}

  procsFiles(): string[] {
    return [join(this.dir, 'cgroup.procs')];
  }

  async update(limits: CgroupLimits): Promise<void> {
    const d = this.dir;
    if (limits.memoryBytes !== undefined && limits.memoryBytes > 0) {
      await writeCgroupFile(join(d, 'memory.max'), String(limits.memoryBytes));
      if (existsSync(join(d, 'memory.swap.max'))) await writeCgroupFile(join(d, 'memory.swap.max'), '0');
    }
    if (limits.cpuQuotaUs !== undefined && limits.cpuQuotaUs > 0) {
      await writeCgroupFile(join(d, 'cpu.max'), `${limits.cpuQuotaUs} ${limits.cpuPeriodUs ?? CPU_PERIOD_US}`);
    }
    if (limits.cpuShares !== undefined && limits.cpuShares > 0) {
      await writeCgroupFile(join(d, 'cpu.weight'), String(sharesToWeight(limits.cpuShares)));
    }
    if (limits.pidsLimit !== undefined) {
      await writeCgroupFile(join(d, 'pids.max'), limits.pidsLimit > 0 ? String(limits.pidsLimit) : 'max');
    }
  }

  async freeze(signal?: AbortSignal): Promise<void> {
    await writeCgroupFile(join(this.dir, 'cgroup.freeze'), '1');
    for (let i = 0; i < 1000; i++) {
      signal?.throwIfAborted();
      const events = await readText(join(this.dir, 'cgroup.events'));
      if (events === undefined) throw new ShoalError('NotFound', `cgroup ${this.name} does not exist`);
      if (parseFlatKeyed(events).get('frozen') === 1) return;
      await this.ops.sleep(i < 20 ? 2 : 10);
    }
    await writeCgroupFile(join(this.dir, 'cgroup.freeze'), '0');
    throw new ShoalError('Timeout', `cgroup ${this.name}: did not report frozen`);
  }

  async thaw(): Promise<void> {
    await writeCgroupFile(join(this.dir, 'cgroup.freeze'), '0');
  }

  async stats(): Promise<CgroupStats> {
    const cpu = parseFlatKeyed(await readText(join(this.dir, 'cpu.stat')));
    return {
      cpuUsageNs: (cpu.get('usage_usec') ?? 0) * 1000,
      memoryBytes: await readInt(join(this.dir, 'memory.current')),
      memoryLimit: await readInt(join(this.dir, 'memory.max')),
      pids: await readInt(join(this.dir, 'pids.current')),
      oomKillCount: await this.oomCount(),
    };
  }

  private async oomCount(): Promise<number> {
    return parseFlatKeyed(await readText(join(this.dir, 'memory.events'))).get('oom_kill') ?? 0;
  }

  async oomKilled(): Promise<boolean> {
    return (await this.oomCount()) > 0;
  }

  pids(): Promise<number[]> {
    return readPids(join(this.dir, 'cgroup.procs'));
  }

  async destroy(signal?: AbortSignal): Promise<void> {
    if (!existsSync(this.dir)) return;
    if (existsSync(join(this.dir, 'cgroup.kill'))) {
      await writeCgroupFile(join(this.dir, 'cgroup.kill'), '1').catch(() => undefined);
    } else if (existsSync(join(this.dir, 'cgroup.freeze'))) {
      await writeCgroupFile(join(this.dir, 'cgroup.freeze'), '0').catch(() => undefined);
    }
    await killAndWait(this.ops, () => this.pids(), signal, this.name);
    await this.ops.removeDir(this.dir);
  }
}
