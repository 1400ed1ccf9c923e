/**
 * The boundary between the TypeScript container manager and the native helper
 * (`native/runtime`, built as `native/build/shoal-runtime`). The manager decides *what* runs
 * (policy: capabilities, masks, limits, mounts); the driver makes the kernel do it.
 * `NativeDriver` is the real implementation; tests of the manager use a fake.
 */
import type { Readable, Writable } from 'node:stream';
import type { TerminalSize } from '../../api/index.js';

export interface IdMapping {
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface Rlimit {
  /** e.g. RLIMIT_NOFILE */
  type: string;
  soft: number;
  hard: number;
}

export interface BindMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

export interface LaunchSpec {
  id: string;
  /** Private runtime directory of the container (under --run-dir): pid/exit files, monitor socket. Created by the caller. */
  stateDir: string;
  /** JSON-lines log file ({"log","stream","time"} per line, Docker's json-file format), written by the monitor. */
  logPath: string;
  /** Rotate when the file exceeds this many bytes, keeping `logMaxFiles` files (log, log.1, ...). */
  logMaxBytes: number;
  logMaxFiles: number;
  /** overlayfs: lower dirs top-first, a writable upper and work dir; mounted inside the new mount namespace. */
  rootfs: { lowerDirs: string[]; upperDir: string; workDir: string };
  hostname: string;
  process: {
    args: string[];
    env: string[];
    cwd: string;
    user: IdMapping;
    noNewPrivileges: boolean;
    /** Capability names like CAP_CHOWN; applied to bounding, permitted, effective (and inheritable/ambient empty). */
    capabilities: string[];
    rlimits: Rlimit[];
    /** Keep a stdin pipe open to the process (`docker run -i`); with `terminal`, let attached clients type. */
    openStdin: boolean;
    /** A pty of the container's devpts as stdio and controlling terminal (`run -t`); absent: pipes. */
    terminal?: boolean;
    /** The terminal's first window size. */
    consoleSize?: TerminalSize;
  };
  mounts: BindMount[];
  /** Files the runtime wrote (hosts, hostname, resolv.conf), bind-mounted over /etc/<name>. */
  etcFiles: { hosts?: string; hostname?: string; resolvConf?: string };
  /** `new`: fresh network namespace (the network hook wires it); `host`: share the host's; `none`: fresh, loopback only. */
  network: 'new' | 'host' | 'none';
  /** cgroup.procs (v2) or tasks/cgroup.procs files (v1, one per controller) the process joins before exec. */
  cgroupProcsFiles: string[];
  /**
   * Device rules in devices.allow syntax after an implicit deny-all; default
   * DEFAULT_DEVICE_RULES (Docker's). For every cgroup2 directory among cgroupProcsFiles the
   * helper attaches them as a BPF device program before the process joins, or refuses to
   * start; on v1 the cgroup manager writes the same list to devices.allow.
   */
  deviceRules?: readonly string[];
  seccomp: 'default' | 'unconfined';
  /** Run a tiny reaper as PID 1 that forwards signals and exits with the child's status. */
  init: boolean;
  maskedPaths: string[];
  readonlyPaths: string[];
  /**
   * The container's processes' oom_score_adj (Docker's default: 0). The agent and the monitors
   * run protected (-500) and children inherit it, so the driver sets this on PID 1 before `go`
   * and on the exec helper before it forks. Absent: left as inherited (driver unit tests).
   */
  oomScoreAdj?: number;
}

export interface Started {
  /** Host PID of the container's PID 1. */
  pid: number;
  /** Host PID of the per-container monitor (survives the agent). */
  monitorPid: number;
  /** Start time of PID 1 (from /proc/<pid>/stat), to tell a reused PID from ours. */
  pidStartTime: string;
}

/**
 * The container's PID 1 as its start recorded it. exec joins the container only while this pid
 * is still the process that started at `pidStartTime`: a pid reused after the container exited
 * is refused (FailedPrecondition), never joined.
 */
export type ContainerProcess = Pick<Started, 'pid' | 'pidStartTime'>;

/** The exit code Shoal records when the real status is unknown (the monitor vanished, the exit was lost). */
export const UNKNOWN_EXIT_CODE = 255;

export interface ExitStatus {
  /** Docker's convention: the exit code, or 128 + signal number when killed by a signal. */
  exitCode: number;
  signal?: string;
  finishedAt: string;
}

export interface StartOptions {
  signal?: AbortSignal;
  /**
   * Called after the namespaces exist and before the user process is exec'd (the network
   * hook: create veth, move one end into /proc/<pid>/ns/net, configure). A rejection aborts
   * the start and the helper kills the half-made container.
   */
  onCreated?: (pid: number) => Promise<void>;
}

/** Window sizes that arrive while a terminal is in use (an EventEmitter fits). */
export interface ResizeEvents {
  on(event: 'resize', listener: (size: TerminalSize) => void): unknown;
  off(event: 'resize', listener: (size: TerminalSize) => void): unknown;
}

export interface ExecSpec {
  args: string[];
  env: string[];
  cwd: string;
  user: IdMapping;
  /** With `tty`: the bytes typed (keys, not frames). */
  stdin?: Readable;
  /** With `tty`: everything the terminal shows (stderr gets nothing). */
  stdout: Writable;
  stderr: Writable;
  signal?: AbortSignal;
  /** Run on a pty of the container's devpts. */
  tty?: { size?: TerminalSize; resizes?: ResizeEvents };
}

/** A connection to a running terminal container's monitor (docs/runtime-helper.md, "Terminals"). */
export interface TerminalAttachment {
  /** What the terminal shows: first what was written while nobody was attached (its last 16 KiB), then live; ends when the container exits or on close(). */
  output: Readable;
  /** Keys for the terminal (dropped unless the container has openStdin). */
  write(data: Buffer): void;
  resize(size: TerminalSize): void;
  /** Detaches; the container keeps running. */
  close(): void;
}

export interface RuntimeDriver {
  /** Creates namespaces, mounts, credentials; runs onCreated; execs. Resolves once the user process runs. */
  start(spec: LaunchSpec, opts?: StartOptions): Promise<Started>;
  /** Releases what the driver keeps between starts (the native driver's spawner). */
  close?(): Promise<void>;
  /** Runs a process inside a running container (its namespaces, cgroup, the same security settings). */
  exec(spec: LaunchSpec, target: ContainerProcess, exec: ExecSpec): Promise<{ exitCode: number }>;
  /** The recorded exit status (written by the monitor), if the container has exited. */
  readExit(stateDir: string): Promise<ExitStatus | undefined>;
  /** Resolves when the container exits (works for containers started by an earlier agent process). */
  waitExit(stateDir: string, signal?: AbortSignal): Promise<ExitStatus>;
  /** Stream the container's stdin, when openStdin was set. */
  attachStdin(stateDir: string): Promise<Writable>;
  /** Attach to a running container started with `terminal` (FailedPrecondition when it is not running). */
  attachTerminal(stateDir: string): Promise<TerminalAttachment>;
  /** Sets the window size of a running terminal container. */
  resizeTerminal(stateDir: string, size: TerminalSize): Promise<void>;
  /**
   * Lets the container read EOF on stdin once the writers attached now have closed (the
   * monitor drops the writer it keeps open between attaches): Docker's StdinOnce.
   */
  closeStdin(monitorPid: number): Promise<void>;
  /** True when `pid` is alive and still the process that started at `pidStartTime`. */
  isRunning(pid: number, pidStartTime: string): Promise<boolean>;
}
