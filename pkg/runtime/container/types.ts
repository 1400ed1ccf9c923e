/** The container model: what users ask for, what is stored on disk, and the boundaries of the manager. */
import type { Writable, Readable } from 'node:stream';

/** The `config` object of an OCI image config (Docker's capitalised names). */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, unknown> | null;
}

export interface ResolvedImage {
  /** Image id (sha256:... of the config). */
  id: string;
  /** The reference as the user wrote it, normalised. */
  ref: string;
  config: ImageConfig;
  /** overlayfs lower dirs, top layer first. */
  lowerDirs: string[];
}

/** What the container manager needs of the image store. Throws NotFound when the image is absent. */
export interface ImageProvider {
  resolveForRun(ref: string, signal?: AbortSignal): Promise<ResolvedImage>;
}

export type NetworkMode = 'none' | 'host' | 'bridge';

export interface NetworkAttachment {
  networks: Record<string, { IPAddress?: string; Gateway?: string; MacAddress?: string; IPPrefixLen?: number }>;
  /** Written into the container's /etc/hosts and /etc/resolv.conf when present. */
  hostsEntries?: string[];
  dnsServers?: string[];
  /** Published ports, Docker's `ps`/`inspect` shape. */
  ports?: PublishedPort[];
}

export interface PublishedPort {
  IP: string;
  PrivatePort: number;
  PublicPort: number;
  Type: 'tcp' | 'udp';
}

/** What a container asks of its network (bridge mode): a user network, published ports, aliases. */
export interface NetworkRequest {
  /** User network name; absent: the default bridge. */
  network?: string;
  /** `[ip:]hostPort:containerPort[/proto]` or `containerPort`. */
  ports?: string[];
  aliases?: string[];
}

/** The hook bridge networking plugs into: called with the container's PID before its process execs. */
export interface NetworkHook {
  attach(container: { id: string; name: string; networkMode: NetworkMode }, pid: number, request?: NetworkRequest): Promise<NetworkAttachment>;
  detach(container: { id: string; name: string; networkMode: NetworkMode }): Promise<void>;
}

export interface HostConfig {
  Memory: number;
  NanoCpus: number;
  CpuShares: number;
  PidsLimit: number;
  Binds: string[];
  NetworkMode: NetworkMode;
  /** User network (bridge mode); absent: the default bridge. */
  Network?: string;
  /** Published port specs as given (`-p`). */
  PortBindings?: string[];
  NetworkAliases?: string[];
  Init: boolean;
  AutoRemove: boolean;
}

export interface ContainerConfig {
  Hostname: string;
  User: string;
  Env: string[];
  Cmd: string[];
  Entrypoint: string[];
  WorkingDir: string;
  Image: string;
  Labels: Record<string, string>;
  StopSignal: string;
  StopTimeout: number;
  OpenStdin: boolean;
  /** Close the container's stdin once the first attached client has sent EOF (`run -i`). */
  StdinOnce?: boolean;
}

/** Everything `create` accepts (API body, after validation). */
export interface CreateOptions {
  name?: string;
  image: string;
  cmd?: string[];
  /** Overrides the image entrypoint and clears the image Cmd; `[]` means none. */
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
  hostname?: string;
  stopSignal?: string;
  stopTimeout?: number;
  openStdin?: boolean;
  stdinOnce?: boolean;
  memory?: number;
  nanoCpus?: number;
  cpuShares?: number;
  pidsLimit?: number;
  binds?: string[];
  networkMode?: NetworkMode;
  /** User network name (bridge mode). */
  network?: string;
  ports?: string[];
  networkAliases?: string[];
  init?: boolean;
  autoRemove?: boolean;
}

export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'exited' | 'dead' | 'removing';

export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  MonitorPid: number;
  PidStartTime: string;
  ExitCode: number;
  OOMKilled: boolean;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  RestartCount: number;
  /** The live network attachment (bridge mode), kept so a restarted agent still shows it. */
  Network?: { networks: NetworkAttachment['networks']; ports: PublishedPort[] };
}

export interface MountPoint {
  Type: 'bind';
  Source: string;
  Destination: string;
  Mode: string;
  RW: boolean;
}

/** `config.json` of a container: fixed at create. */
export interface ContainerSpec {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  ImageRef: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  Mounts: MountPoint[];
  LowerDirs: string[];
  /** uid/gid/groups resolved from the image's /etc/passwd and /etc/group at create. */
  ProcessUser: { uid: number; gid: number; additionalGids: number[] };
  /** Path (argv) of the container's process: entrypoint + cmd. */
  Path: string;
  Args: string[];
  LogPath: string;
}

/** Docker-like `inspect` output. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  State: {
    Status: Exclude<ContainerStatus, 'creating' | 'removing'> | 'removing';
    Running: boolean;
    Paused: boolean;
    Restarting: boolean;
    OOMKilled: boolean;
    Dead: boolean;
    Pid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
  };
  Image: string;
  LogPath: string;
  RestartCount: number;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  Mounts: MountPoint[];
  NetworkSettings: { Networks: NetworkAttachment['networks']; Ports: PublishedPort[] };
}

/** One row of `ps`. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Ports: PublishedPort[];
  Labels: Record<string, string>;
}

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  time: string;
  log: string;
}

export interface LogsOptions {
  follow?: boolean;
  tail?: number;
  /** RFC 3339 time or unix seconds; entries before it are skipped. */
  since?: string;
  signal?: AbortSignal;
}

export interface ContainerStats {
  id: string;
  name: string;
  read: string;
  cpuUsageNs: number;
  memoryBytes: number;
  memoryLimit: number;
  pids: number;
  oomKillCount: number;
}

export interface ExecOptions {
  cmd: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
  signal?: AbortSignal;
}
