/**
 * The container-spec builder, pure: create options + the resolved image + Docker's defaults →
 * the `config.json` a container keeps for life (ContainerSpec), and a ContainerSpec + paths →
 * the LaunchSpec the runtime driver starts. Plain data in, plain data out; ids, names, times,
 * paths and the resolved user come in as arguments, so every rule here is unit-tested without
 * a disk, a kernel or a clock. The container manager is the shell around it.
 */
import { isAbsolute, join, normalize } from 'node:path';
import { consoleSizeOf, ShoalError, type TerminalSize } from '../../api/index.js';
import type { MountPoint, NetworkMode } from '../../api/index.js';
import type { CgroupLimits } from '../cgroups/index.js';
import type { ExecSpec, LaunchSpec } from '../helper/driver.js';
import {
  DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, DEFAULT_RLIMITS, DEFAULT_STOP_TIMEOUT_S,
} from './defaults.js';
import { envDefault, mergeEnv, type Merged } from './merge.js';
import { validateName } from './names.js';
import type { ContainerSpec, CreateOptions, ExecOptions, NetworkRequest, ResolvedImage } from './types.js';
import { nanoCpusToQuota } from './units.js';
import type { ResolvedUser } from './user.js';

/** `SRC:DST[:ro|rw]` → mount points; both paths absolute. */
export function parseBinds(binds: string[]): MountPoint[] {
  return binds.map((b, i) => {
    const parts = b.split(':');
    const field = `binds[${i}]`;
    const bad = (msg: string) =>
      new ShoalError('Invalid', `invalid bind mount ${JSON.stringify(b)}: ${msg}`, {
        causes: [{ field, reason: 'FieldValueInvalid', message: msg }],
      });
    if (parts.length < 2 || parts.length > 3) throw bad('want SRC:DST[:ro]');
    const [src = '', dst = '', mode = 'rw'] = parts;
    if (!isAbsolute(src)) throw bad('the source must be an absolute host path');
    if (!isAbsolute(dst) || normalize(dst) === '/') throw bad('the destination must be an absolute path other than /');
    if (mode !== 'ro' && mode !== 'rw') throw bad(`unknown mode ${JSON.stringify(mode)}: want ro or rw`);
    return { Type: 'bind', Source: normalize(src), Destination: normalize(dst), Mode: mode === 'ro' ? 'ro' : '', RW: mode !== 'ro' };
  });
}

const hasNetworkRequest = (opts: CreateOptions): boolean =>
  Boolean(opts.ports?.length || (opts.network ?? '') !== '' || opts.networkAliases?.length);

/** An exec needs a command, and its working directory (when given) must be absolute. */
export function checkExecOptions(opts: Pick<ExecOptions, 'cmd' | 'workdir'>): void {
  if (opts.cmd.length === 0) {
    throw new ShoalError('Invalid', 'exec needs a command', { causes: [{ field: 'cmd', reason: 'FieldValueRequired', message: 'required' }] });
  }
  if (opts.workdir !== undefined && opts.workdir !== '' && !opts.workdir.startsWith('/')) {
    throw new ShoalError('Invalid', `working directory ${JSON.stringify(opts.workdir)} is not absolute`, {
      causes: [{ field: 'workdir', reason: 'FieldValueInvalid', message: 'must be absolute' }],
    });
  }
}

/**
 * What can be refused before the image is looked at: the name, a network request on an agent
 * without bridge networking, the bind mounts. Returns the parsed mounts.
 */
export function checkCreateOptions(opts: CreateOptions, bridgeNetworking: boolean): { mounts: MountPoint[] } {
  if (opts.name !== undefined && opts.name !== '') validateName(opts.name.replace(/^\//, ''));
  const networkMode: NetworkMode = opts.networkMode ?? 'bridge';
  if (networkMode === 'bridge' && !bridgeNetworking && hasNetworkRequest(opts)) {
    throw new ShoalError('FailedPrecondition', 'published ports, user networks and aliases need bridge networking, which is off on this agent (start it with --bridge NAME)');
  }
  return { mounts: parseBinds(opts.binds ?? []) };
}

/** The warnings `create` answers with (Docker's `Warnings`). */
export function createWarnings(opts: CreateOptions, bridgeNetworking: boolean): string[] {
  const warnings: string[] = [];
  const networkMode: NetworkMode = opts.networkMode ?? 'bridge';
  if (opts.networkMode === 'bridge' && !bridgeNetworking) {
    warnings.push('bridge networking is not enabled on this agent: the container gets a loopback-only network');
  }
  if (networkMode !== 'bridge' && (opts.ports?.length || opts.networkAliases?.length)) {
    warnings.push(`published ports and network aliases are ignored in network mode ${networkMode}`);
  }
  return warnings;
}

export interface SpecInput {
  id: string;
  /** The container name, without the leading `/`. */
  name: string;
  /** ISO time of the create. */
  created: string;
  /** The container's data dir, `<data>/containers/<id>` (its log file lives there). */
  dir: string;
  opts: CreateOptions;
  image: ResolvedImage;
  /** `mergeConfig(image.config, opts)`. */
  merged: Merged;
  /** `merged.user` resolved against the image's /etc/passwd and /etc/group. */
  user: ResolvedUser;
  /** `checkCreateOptions(opts).mounts`. */
  mounts: MountPoint[];
}

/** The ContainerSpec (`config.json`) of a new container. */
export function buildContainerSpec(i: SpecInput): ContainerSpec {
  const { id, opts, image, merged, user } = i;
  const networkMode: NetworkMode = opts.networkMode ?? 'bridge';
  const bridge = networkMode === 'bridge';
  const hostname = opts.hostname || id.slice(0, 12);
  const argv = [...merged.entrypoint, ...merged.cmd];
  return {
    Id: id,
    Name: `/${i.name}`,
    Created: i.created,
    Image: image.id,
    ImageRef: image.ref,
    Config: {
      Hostname: hostname,
      User: merged.user,
      Env: envDefault(envDefault(merged.env, 'HOSTNAME', hostname), 'HOME', user.home || '/'),
      Cmd: merged.cmd,
      Entrypoint: merged.entrypoint,
      WorkingDir: merged.workingDir,
      Image: image.ref,
      Labels: merged.labels,
      StopSignal: merged.stopSignal,
      StopTimeout: opts.stopTimeout ?? DEFAULT_STOP_TIMEOUT_S,
      OpenStdin: opts.openStdin ?? false,
      ...(opts.openStdin && opts.stdinOnce ? { StdinOnce: true } : {}),
      ...(opts.tty ? { Tty: true } : {}),
    },
    HostConfig: {
      Memory: opts.memory ?? 0,
      NanoCpus: opts.nanoCpus ?? 0,
      CpuShares: opts.cpuShares ?? 0,
      PidsLimit: opts.pidsLimit ?? 0,
      Binds: opts.binds ?? [],
      NetworkMode: networkMode,
      ...(bridge && opts.network !== undefined && opts.network !== '' ? { Network: opts.network } : {}),
      ...(bridge && opts.ports?.length ? { PortBindings: opts.ports } : {}),
      ...(bridge && opts.networkAliases?.length ? { NetworkAliases: opts.networkAliases } : {}),
      Init: opts.init ?? false,
      AutoRemove: opts.autoRemove ?? false,
      ...(opts.tty && opts.consoleSize ? { ConsoleSize: opts.consoleSize } : {}),
    },
    Mounts: i.mounts,
    LowerDirs: image.lowerDirs,
    ProcessUser: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    Path: argv[0]!,
    Args: argv.slice(1),
    LogPath: join(i.dir, `${id}-json.log`),
  };
}

/** `--default-pids-limit` and `--default-memory` of the agent (0 or absent: none). */
export interface DefaultLimits {
  pidsLimit?: number;
  memory?: number;
}

/**
 * The create options with the agent's default limits where the caller set none; an explicit
 * 0 still means unlimited. The result is recorded in HostConfig, so inspect shows what applies.
 */
export function withDefaultLimits(opts: CreateOptions, d: DefaultLimits): CreateOptions {
  return {
    ...opts,
    ...(opts.pidsLimit === undefined && d.pidsLimit ? { pidsLimit: d.pidsLimit } : {}),
    ...(opts.memory === undefined && d.memory ? { memory: d.memory } : {}),
  };
}

/** The cgroup limits of a container (0 means unlimited and is left out; `--cpus` is a quota per 100 ms). */
export function cgroupLimits(spec: ContainerSpec): CgroupLimits {
  const h = spec.HostConfig;
  const l: CgroupLimits = {};
  if (h.Memory > 0) l.memoryBytes = h.Memory;
  if (h.NanoCpus > 0) {
    l.cpuQuotaUs = nanoCpusToQuota(h.NanoCpus);
    l.cpuPeriodUs = 100_000;
  }
  if (h.CpuShares > 0) l.cpuShares = h.CpuShares;
  if (h.PidsLimit > 0) l.pidsLimit = h.PidsLimit;
  return l;
}

/** Who a container is to the network hook. */
export function networkPeer(spec: ContainerSpec): { id: string; name: string; networkMode: NetworkMode } {
  return { id: spec.Id, name: spec.Name.slice(1), networkMode: spec.HostConfig.NetworkMode };
}

/** What a container asks of its network (bridge mode), from its host config. */
export function networkRequest(spec: ContainerSpec): NetworkRequest {
  const hc = spec.HostConfig;
  return {
    ...(hc.Network !== undefined ? { network: hc.Network } : {}),
    ...(hc.PortBindings ? { ports: hc.PortBindings } : {}),
    ...(hc.NetworkAliases ? { aliases: hc.NetworkAliases } : {}),
  };
}

/** What the driver runs for an exec: the container's env and working directory under the request's, as `user`. */
export function buildExecSpec(spec: ContainerSpec, opts: ExecOptions, user: ContainerSpec['ProcessUser']): ExecSpec {
  return {
    args: opts.cmd,
    env: mergeEnv(spec.Config.Env, opts.env ?? []),
    cwd: opts.workdir || spec.Config.WorkingDir,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    stdout: opts.stdout,
    stderr: opts.stderr,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.tty ? { tty: opts.tty } : {}),
  };
}

export interface LaunchContext {
  /** The container's data dir, `<data>/containers/<id>` (rootfs upper/work and /etc files). */
  dataDir: string;
  /** The driver's state dir, `<run>/containers/<id>`. */
  stateDir: string;
  logMaxBytes: number;
  logMaxFiles: number;
  seccomp: 'default' | 'unconfined';
  /** The files of the container's cgroup its process joins (`Cgroup.procsFiles()`). */
  cgroupProcsFiles: string[];
}

function terminalOf(size: [number, number] | undefined): { terminal: true; consoleSize?: TerminalSize } {
  const s = consoleSizeOf(size);
  return s ? { terminal: true, consoleSize: s } : { terminal: true };
}

/** The LaunchSpec of a container: its process, rootfs, mounts and Docker's default security settings. */
export function buildLaunchSpec(spec: ContainerSpec, ctx: LaunchContext): LaunchSpec {
  const dir = ctx.dataDir;
  const mode = spec.HostConfig.NetworkMode;
  return {
    id: spec.Id,
    stateDir: ctx.stateDir,
    logPath: spec.LogPath,
    logMaxBytes: ctx.logMaxBytes,
    logMaxFiles: ctx.logMaxFiles,
    rootfs: { lowerDirs: spec.LowerDirs, upperDir: join(dir, 'rootfs', 'upper'), workDir: join(dir, 'rootfs', 'work') },
    hostname: spec.Config.Hostname,
    process: {
      args: [spec.Path, ...spec.Args],
      env: spec.Config.Env,
      cwd: spec.Config.WorkingDir,
      user: spec.ProcessUser,
      noNewPrivileges: true,
      capabilities: DEFAULT_CAPABILITIES,
      rlimits: DEFAULT_RLIMITS,
      openStdin: spec.Config.OpenStdin,
      ...(spec.Config.Tty ? terminalOf(spec.HostConfig.ConsoleSize) : {}),
    },
    mounts: spec.Mounts.map((m) => ({ source: m.Source, destination: m.Destination, readOnly: !m.RW })),
    etcFiles: { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') },
    network: mode === 'host' ? 'host' : mode === 'none' ? 'none' : 'new',
    cgroupProcsFiles: ctx.cgroupProcsFiles,
    seccomp: ctx.seccomp,
    oomScoreAdj: 0,
    init: spec.HostConfig.Init,
    maskedPaths: DEFAULT_MASKED_PATHS,
    readonlyPaths: DEFAULT_READONLY_PATHS,
  };
}
