/** The container model: what users ask for, what is stored on disk, and the boundaries of the manager. */
import type { Writable, Readable } from 'node:stream';
import type { ExecSpec } from '../helper/driver.js';
import type {
  ContainerConfig, ContainerCreateRequest, ContainerNetworks, ContainerStatus, HostConfig, ImageRuntimeConfig, MountPoint, NetworkMode, PublishedPort,
} from '../../api/index.js';

export interface ResolvedImage {
  /** Image id (sha256:... of the config). */
  id: string;
  /** The reference as the user wrote it, normalised. */
  ref: string;
  config: ImageRuntimeConfig;
  /** overlayfs lower dirs, top layer first. */
  lowerDirs: string[];
}

/** What the container manager needs of the image store. Throws NotFound when the image is absent. */
export interface ImageProvider {
  resolveForRun(ref: string, signal?: AbortSignal): Promise<ResolvedImage>;
}

export interface NetworkAttachment {
  networks: ContainerNetworks;
  /** Written into the container's /etc/hosts and /etc/resolv.conf when present. */
  hostsEntries?: string[];
  dnsServers?: string[];
  /** Published ports, Docker's `ps`/`inspect` shape. */
  ports?: PublishedPort[];
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

/**
 * Everything `create` accepts: the engine's ContainerCreateRequest once checked, with sizes
 * parsed to numbers (`memory` in bytes, `cpus` folded into `nanoCpus`) and `networkMode` split
 * into the mode and a user network's name.
 */
export interface CreateOptions extends Omit<ContainerCreateRequest, 'memory' | 'cpus' | 'networkMode'> {
  memory?: number;
  networkMode?: NetworkMode;
  /** User network name (bridge mode). */
  network?: string;
}

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

export interface LogsOptions {
  follow?: boolean;
  tail?: number;
  /** RFC 3339 time or unix seconds; entries before it are skipped. */
  since?: string;
  signal?: AbortSignal;
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
  /** Run on a terminal: its first size and later resizes (stdin is then keys, stdout all output). */
  tty?: ExecSpec['tty'];
}
