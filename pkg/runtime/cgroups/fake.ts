/** An in-memory CgroupManager for tests of the container manager. */
import type { Cgroup, CgroupLimits, CgroupManager, CgroupStats } from './types.js';

export class FakeCgroup implements Cgroup {
  limits: CgroupLimits;
  frozen = false;
  destroyed = false;
  oomKills = 0;
  members = new Set<number>();
  constructor(
    readonly name: string,
    limits: CgroupLimits,
  ) {
    this.limits = { ...limits };
  }
  procsFiles(): string[] {
    return [`/fake-cgroup/${this.name}/cgroup.procs`];
  }
  update(limits: CgroupLimits): Promise<void> {
    this.limits = { ...this.limits, ...limits };
    return Promise.resolve();
  }
  freeze(): Promise<void> {
    this.frozen = true;
    return Promise.resolve();
  }
  thaw(): Promise<void> {
    this.frozen = false;
    return Promise.resolve();
  }
  stats(): Promise<CgroupStats> {
    return Promise.resolve({
      cpuUsageNs: 1000,
      memoryBytes: 4096,
      memoryLimit: this.limits.memoryBytes ?? 0,
      pids: this.members.size,
      oomKillCount: this.oomKills,
    });
  }
  oomKilled(): Promise<boolean> {
    return Promise.resolve(this.oomKills > 0);
  }
  pids(): Promise<number[]> {
    return Promise.resolve([...this.members]);
  }
  destroy(): Promise<void> {
    this.destroyed = true;
    this.members.clear();
    return Promise.resolve();
  }
}

export class FakeCgroupManager implements CgroupManager {
  readonly version = 2 as const;
  readonly parent = 'fake';
  readonly groups = new Map<string, FakeCgroup>();
  create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    const g = new FakeCgroup(name, limits);
    this.groups.set(name, g);
    return Promise.resolve(g);
  }
  open(name: string): Cgroup {
    let g = this.groups.get(name);
    if (!g) {
      g = new FakeCgroup(name, {});
      g.destroyed = true;
      this.groups.set(name, g);
    }
    return g;
  }
  list(): Promise<string[]> {
    return Promise.resolve(this.live().map((g) => g.name));
  }
  /** Live (not destroyed) cgroups. */
  live(): FakeCgroup[] {
    return [...this.groups.values()].filter((g) => !g.destroyed);
  }
}
