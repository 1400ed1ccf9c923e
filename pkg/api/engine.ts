/**
 * The engine API's wire types (DESIGN.md section 6): the JSON an agent's UNIX-socket API takes
 * and answers, Docker-shaped where Docker has a shape. Defined once: the engine server
 * (pkg/agent/engine), the runtime that produces the answers (pkg/runtime, pkg/network), the
 * engine client (pkg/client) and the controller's log/exec relay all use these.
 *
 * Streams are NDJSON, one object per line; a failure after the stream started is a last line
 * `{"error": V1Status}` (StreamError).
 */
import { errors, type FieldCause, type Status } from './errors.js';
import { fieldPath } from './validation-fields.js';
import { checkConsoleSize } from './terminal.js';

export const ENGINE_API_VERSION = 'v1';

/** A failure after a stream started. */
export interface StreamError {
  error: Status;
}

/** `GET /v1/version`. */
export interface EngineVersion {
  Version: string;
  ApiVersion: string;
  Os: string;
  Arch: string;
  NodeName?: string;
}

// ---- containers ----------------------------------------------------------------------------

export type NetworkMode = 'none' | 'host' | 'bridge';
export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'exited' | 'dead' | 'removing';

/** `POST /v1/containers` (`?name=` may name it too). Unknown fields are refused. */
export interface ContainerCreateRequest {
  name?: string;
  image: string;
  cmd?: string[];
  /** Overrides the image entrypoint and clears the image Cmd; `[]` means none. */
  entrypoint?: string[];
  /** `KEY=VALUE`. */
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
  hostname?: string;
  stopSignal?: string;
  stopTimeout?: number;
  openStdin?: boolean;
  /** Close the container's stdin once the first attached client has sent EOF (`run -i`). */
  stdinOnce?: boolean;
  /** Give the process a terminal (`run -t`): a pty of the container's devpts as its stdio; output logged as stdout. */
  tty?: boolean;
  /** Docker's ConsoleSize: the terminal's first `[rows, cols]`. */
  consoleSize?: [number, number];
  /** Bytes, or a size such as `64m`. */
  memory?: number | string;
  /** CPUs, such as `0.5`. */
  cpus?: number | string;
  nanoCpus?: number;
  cpuShares?: number;
  pidsLimit?: number;
  /** `SRC:DST[:ro]`. */
  binds?: string[];
  /** `bridge` (default), `none`, `host`, or the name of a user network. */
  networkMode?: string;
  init?: boolean;
  autoRemove?: boolean;
  /** `[ip:]hostPort:containerPort[/proto]` or `containerPort`. */
  ports?: string[];
  networkAliases?: string[];
}

export const CONTAINER_CREATE_FIELDS: readonly (keyof ContainerCreateRequest)[] = [
  'name', 'image', 'cmd', 'entrypoint', 'env', 'workingDir', 'user', 'labels', 'hostname', 'stopSignal', 'stopTimeout',
  'openStdin', 'stdinOnce', 'tty', 'consoleSize', 'memory', 'cpus', 'nanoCpus', 'cpuShares', 'pidsLimit', 'binds', 'networkMode', 'init', 'autoRemove',
  'ports', 'networkAliases',
];

export interface ContainerCreateResponse {
  Id: string;
  Warnings?: string[];
}

export interface PublishedPort {
  IP: string;
  PrivatePort: number;
  PublicPort: number;
  Type: 'tcp' | 'udp';
}

export interface ContainerNetworks {
  [network: string]: { IPAddress?: string; Gateway?: string; MacAddress?: string; IPPrefixLen?: number };
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
  StdinOnce?: boolean;
  /** Absent in containers created before terminals existed: false. */
  Tty?: boolean;
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
  /** `[rows, cols]` the terminal starts with (Tty only). */
  ConsoleSize?: [number, number];
}

export interface MountPoint {
  Type: 'bind';
  Source: string;
  Destination: string;
  Mode: string;
  RW: boolean;
}

/** `GET /v1/containers/:id/json`. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  State: {
    Status: Exclude<ContainerStatus, 'creating'>;
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
  NetworkSettings: { Networks: ContainerNetworks; Ports: PublishedPort[] };
}

/** One row of `GET /v1/containers` (`ps`). */
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

/** `GET /v1/containers/:id/stats` (a stream of these with `?stream=1`). */
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

/** `POST /v1/containers/:id/wait`. */
export interface ContainerWaitResponse {
  StatusCode: number;
}

/** One line of `GET /v1/containers/:id/logs` (the controller adds `task` in service logs). */
export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds. */
  time: string;
  log: string;
}

/**
 * What `exec` runs (`POST /v1/containers/:id/exec`, and the controller's task exec): a JSON body,
 * or base64 JSON in `?spec=` when the body is the process's stdin.
 */
export interface ExecSpec {
  cmd: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  /** Run it on a terminal; with stdin, the body is then a terminal frame stream (terminal.ts). */
  tty?: boolean;
  /** The terminal's first `[rows, cols]`. */
  consoleSize?: [number, number];
}

const EXEC_FIELDS = ['cmd', 'env', 'user', 'workdir', 'tty', 'consoleSize'];

/** Checks an exec spec (every problem at once: Invalid with field causes); the engine and the controller both use it. */
export function parseExecSpec(v: unknown): ExecSpec {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw errors.invalidArgument('the exec spec must be a JSON object {cmd, env?, user?, workdir?}');
  const b = v as Record<string, unknown>;
  const causes: FieldCause[] = [];
  const strList = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
  if (!strList(b['cmd']) || b['cmd'].length === 0) causes.push({ field: 'cmd', reason: 'FieldValueRequired', message: 'a non-empty list of strings is required' });
  if (b['env'] !== undefined && !strList(b['env'])) causes.push({ field: 'env', reason: 'FieldValueInvalid', message: 'must be a list of strings' });
  for (const k of ['user', 'workdir']) {
    if (b[k] !== undefined && typeof b[k] !== 'string') causes.push({ field: k, reason: 'FieldValueInvalid', message: 'must be a string' });
  }
  if (b['tty'] !== undefined && typeof b['tty'] !== 'boolean') causes.push({ field: 'tty', reason: 'FieldValueInvalid', message: 'must be true or false' });
  if (b['consoleSize'] !== undefined && !checkConsoleSize(b['consoleSize'])) {
    causes.push({ field: 'consoleSize', reason: 'FieldValueInvalid', message: 'must be [rows, cols], each 0..65535' });
  }
  for (const k of Object.keys(b)) if (!EXEC_FIELDS.includes(k)) causes.push({ field: fieldPath('', k), reason: 'FieldValueNotSupported', message: 'unknown field' });
  if (causes.length > 0) throw errors.invalid(`invalid exec spec: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`, causes);
  const out: ExecSpec = { cmd: b['cmd'] as string[] };
  if (b['env'] !== undefined) out.env = b['env'] as string[];
  if (typeof b['user'] === 'string') out.user = b['user'];
  if (typeof b['workdir'] === 'string') out.workdir = b['workdir'];
  if (b['tty'] === true) out.tty = true;
  if (checkConsoleSize(b['consoleSize'])) out.consoleSize = [b['consoleSize'][0], b['consoleSize'][1]];
  return out;
}

/** The exec spec of `?spec=<base64 JSON>`. */
export function decodeExecSpecParam(param: string): ExecSpec {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(param, 'base64').toString('utf8'));
  } catch {
    throw errors.invalidArgument('the exec spec (query parameter spec) must be base64-encoded JSON {cmd, env?, user?, workdir?}');
  }
  return parseExecSpec(parsed);
}

/** `?spec=` of an exec whose body is its stdin. */
export function encodeExecSpecParam(spec: ExecSpec): string {
  return Buffer.from(JSON.stringify(spec)).toString('base64');
}

/** One line of an exec answer: output (`data` is base64), then `{exitCode}`. */
export interface ExecFrame {
  stream?: 'stdout' | 'stderr';
  data?: string;
  exitCode?: number;
  error?: Status;
}

// ---- images --------------------------------------------------------------------------------

/** The runtime part of an image config (Docker's `config`, capitalised names). */
export interface ImageRuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, object> | null;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  OnBuild?: string[] | null;
  Shell?: string[];
}

/** One row of `GET /v1/images`. */
export interface ImageSummary {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Size: number;
}

/** `GET /v1/images/:ref/json`. */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Architecture: string;
  Os: string;
  Variant?: string;
  Size: number;
  Config: ImageRuntimeConfig;
  RootFS: { Type: 'layers'; Layers: string[] };
  Manifest: { Digest: string; MediaType: string; Layers: { mediaType: string; digest: string; size: number }[] };
  GraphDriver: { Name: 'overlay'; Data: { ChainIds: string[]; LowerDirs: string[] } };
}

/** One progress line of a pull or push, per layer (or config) blob. */
export interface LayerProgress {
  /** Short digest (12 hex characters) of the blob. */
  id: string;
  status: 'waiting' | 'downloading' | 'verifying' | 'extracting' | 'done' | 'exists' | 'uploading' | 'pushed' | 'mounted';
  current?: number;
  total?: number;
}

/** The result of a pull, push or import (a pull or push stream ends with it, `status: "done"`). */
export interface ImageResult {
  ref: string;
  digest: string;
  id: string;
}

/** `DELETE /v1/images/:ref`. */
export interface ImageRemoveResult {
  untagged: string[];
  deleted: string[];
}

/** `POST /v1/images/pull` and `/push` take `{ref}`; `/tag` takes this. */
export interface ImageTagRequest {
  source: string;
  target: string;
}

/** `POST /v1/auth`. */
export interface AuthRequest {
  registry: string;
  username: string;
  password: string;
}

// ---- networks ------------------------------------------------------------------------------

/** `POST /v1/networks`. */
export interface NetworkCreateRequest {
  name: string;
  subnet?: string;
}

/** One row of `GET /v1/networks`. */
export interface NetworkInfo {
  id: string;
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** True for networks made with `network create` (persisted, with embedded DNS). */
  user: boolean;
  created: string;
}

/** A container attached to a network (`GET /v1/networks/:name`). */
export interface NetworkEndpoint {
  containerId: string;
  network: string;
  name: string;
  ip: string;
  mac: string;
  hostVeth: string;
  ports: { protocol: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerPort: number }[];
  aliases: string[];
}

export interface NetworkDetail extends NetworkInfo {
  endpoints: NetworkEndpoint[];
}
