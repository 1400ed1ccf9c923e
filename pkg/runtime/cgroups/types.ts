/**
 * The one cgroup interface of the runtime. Two implementations (v1: one hierarchy per
 * controller; v2: the unified hierarchy) write files under a given root path, so both are
 * unit-tested against a fake cgroupfs tree in a temp dir.
 */

export type CgroupVersion = 1 | 2;

export interface CgroupLimits {
  /** Memory limit in bytes (swap is disabled for the container when set). */
  memoryBytes?: number;
  /** CFS quota: `--cpus 0.5` = 50000 of a 100000 µs period. */
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  /** Relative CPU weight in cgroup v1 shares (2..262144); converted to cpu.weight on v2. */
  cpuShares?: number;
  /** Maximum number of tasks; undefined or <= 0 = unlimited. */
  pidsLimit?: number;
}

export interface CgroupStats {
  cpuUsageNs: number;
  memoryBytes: number;
  /** Bytes; 0 when unlimited. */
  memoryLimit: number;
  pids: number;
  oomKillCount: number;
}

/** One container's cgroup (in every controller it uses). */
export interface Cgroup {
  readonly name: string;
  /** The files the runtime helper writes the new PID into before exec. */
  procsFiles(): string[];
  update(limits: CgroupLimits): Promise<void>;
  /** Freezes every task; resolves once the kernel reports the cgroup frozen. */
  freeze(signal?: AbortSignal): Promise<void>;
  thaw(): Promise<void>;
  stats(): Promise<CgroupStats>;
  /** True when the kernel OOM-killed a task of this cgroup. */
  oomKilled(): Promise<boolean>;
  /** PIDs currently in the cgroup. */
  pids(): Promise<number[]>;
  /** Kills remaining tasks, waits for them to go, removes the directories. Idempotent. */
  destroy(signal?: AbortSignal): Promise<void>;
}

/** The cgroup hierarchy of one agent: every container lives under `parent`. */
export interface CgroupManager {
  readonly version: CgroupVersion;
  readonly parent: string;
  /** Creates `<parent>/<name>` with the limits applied (it must not hold tasks yet). */
  create(name: string, limits: CgroupLimits): Promise<Cgroup>;
  /** A handle on an existing (or already removed) cgroup, e.g. after an agent restart. */
  open(name: string): Cgroup;
  /** Names of the cgroups that exist under the parent (to sweep leftovers at start-up). */
  list(): Promise<string[]>;
}

/** Kernel operations a cgroup implementation needs besides file I/O; faked in tests. */
export interface CgroupOps {
  kill(pid: number, signal: NodeJS.Signals): void;
  /** Removes one cgroup directory (rmdir on a real cgroupfs; rm -r on a fake tree). */
  removeDir(path: string): Promise<void>;
  sleep(ms: number): Promise<void>;
}

export interface CgroupManagerOptions {
  /** Mount point of the cgroup filesystem; default /sys/fs/cgroup. */
  root?: string;
  /** Parent cgroup name (`--cgroup-parent`), default `shoal`. */
  parent?: string;
  ops?: Partial<CgroupOps>;
}
