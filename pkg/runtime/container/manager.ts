/**
 * The container manager: Docker's container lifecycle on top of a RuntimeDriver (the native
 * helper), a CgroupManager and an ImageProvider. State lives on disk under
 * `<data>/containers/<id>/{config.json,state.json}` (atomic writes), runtime files under
 * `<run>/containers/<id>/`. What a container is made of is decided by the pure builders of
 * spec.ts; `ContainerManager.create` restores what an earlier agent left (restore.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError, toShoalError, type ContainerInspect, type ContainerStats, type ContainerSummary, type LogEntry, type TerminalSize } from '../../api/index.js';
import { explainNoSpace } from '../../util/index.js';
import type { Cgroup, CgroupManager } from '../cgroups/index.js';
import type { ExitStatus, LaunchSpec, RuntimeDriver } from '../helper/driver.js';
import { DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES } from './defaults.js';
import { armExit, isLive, newEntry, type Entry } from './entry.js';
import { writeEtcFiles } from './etc-files.js';
import { labelledIds, summaries, toInspect } from './inspect.js';
import { readLogs, readLogsOptions } from './logs.js';
import { mergeConfig } from './merge.js';
import { generateName, newId } from './names.js';
import { markRemoving, writeSpec, writeState } from './records.js';
import { restoreContainers } from './restore.js';
import {
  buildContainerSpec, buildExecSpec, buildLaunchSpec, cgroupLimits, checkCreateOptions, checkExecOptions, createWarnings, networkPeer, networkRequest, withDefaultLimits, type DefaultLimits,
} from './spec.js';
import { exitCodeOf, exitedState, needsStart, newContainerState, runningState } from './state.js';
import { attachEntry, connectForStart, dropWaiters, resizeEntry, startedForWaiters, startFailedForWaiters, type TerminalSession, type TerminalWaiter } from './terminals.js';
import { parseSignal } from './units.js';
import { resolveImageUser } from './user.js';
import type { ContainerSpec, ContainerState, CreateOptions, ExecOptions, ImageProvider, LogsOptions, NetworkAttachment, NetworkHook } from './types.js';

export interface ContainerManagerOptions {
  dataDir: string;
  runDir: string;
  driver: RuntimeDriver;
  cgroups: CgroupManager;
  images: ImageProvider;
  network?: NetworkHook;
  clock?: () => Date;
  /** Sends a signal to a host PID (default process.kill); faked in tests. */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  logMaxBytes?: number;
  logMaxFiles?: number;
  /** Copied into containers as /etc/resolv.conf (default /etc/resolv.conf). */
  hostResolvConf?: string;
  seccomp?: 'default' | 'unconfined';
  defaultLimits?: DefaultLimits; // of a container that sets none (see withDefaultLimits)
  /** Reports errors of background work (exit handling, auto-remove). */
  onError?: (err: unknown, what: string) => void;
  /** Told after each successful start: seconds from the start call until the process runs (metrics). */
  onStarted?: (id: string, latencySeconds: number) => void;
}

/** A network hook for `none` and `host`: nothing to wire. Bridge networking replaces it. */
export const noopNetworkHook: NetworkHook = {
  attach: () => Promise.resolve({ networks: {} }),
  detach: () => Promise.resolve(),
};

export class ContainerManager {
  private readonly entries = new Map<string, Entry>();
  private readonly names = new Map<string, string>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly o: Required<Omit<ContainerManagerOptions, 'onError' | 'onStarted'>> & Pick<ContainerManagerOptions, 'onError' | 'onStarted'>;
  private closed = false;

  private constructor(opts: ContainerManagerOptions) {
    this.o = {
      network: noopNetworkHook,
      clock: () => new Date(),
      kill: (pid, sig) => process.kill(pid, sig),
      logMaxBytes: DEFAULT_LOG_MAX_BYTES,
      logMaxFiles: DEFAULT_LOG_MAX_FILES,
      hostResolvConf: '/etc/resolv.conf',
      seccomp: 'default',
      defaultLimits: {},
      ...opts,
    };
  }

  /** Builds the manager and restores the containers found on disk. */
  static async create(opts: ContainerManagerOptions): Promise<ContainerManager> {
    const m = new ContainerManager(opts);
    await mkdir(m.containersDir, { recursive: true, mode: 0o700 });
    await mkdir(join(opts.runDir, 'containers'), { recursive: true, mode: 0o700 });
    await m.restore();
    return m;
  }

  private get containersDir(): string {
    return join(this.o.dataDir, 'containers');
  }
  private dataDirOf(id: string): string {
    return join(this.containersDir, id);
  }
  private runDirOf(id: string): string {
    return join(this.o.runDir, 'containers', id);
  }
  private now(): string {
    return this.o.clock().toISOString();
  }
  // ── lookup ────────────────────────────────────────────────────────────────────────────

  /** Id, name (with or without a leading `/`) or unique id prefix. */
  private find(ref: string): Entry {
    const key = ref.startsWith('/') ? ref.slice(1) : ref;
    const byId = this.entries.get(key) ?? this.entries.get(this.names.get(key) ?? '');
    if (byId && !byId.removed) return byId;
    if (/^[0-9a-f]{1,64}$/.test(key)) {
      const hits = [...this.entries.values()].filter((e) => !e.removed && e.spec.Id.startsWith(key));
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) throw new ShoalError('InvalidArgument', `multiple containers match the id prefix ${key}`);
    }
    throw new ShoalError('NotFound', `no such container: ${ref}`, { kind: 'container', name: ref });
  }

  /** The full id of a container reference. */
  resolve(ref: string): string {
    return this.find(ref).spec.Id;
  }

  private async locked<T>(e: Entry, fn: () => Promise<T>): Promise<T> {
    const run = e.lock.then(fn, fn);
    e.lock = run.catch(() => undefined);
    return run;
  }

  private async persistState(e: Entry): Promise<void> {
    if (e.removed) return;
    await writeState(this.dataDirOf(e.spec.Id), e.state);
  }

  /**
   * For a state the next agent can also learn without it (an exit is in the monitor's
   * exit.json, a thaw in the freezer): a failure to persist (a full disk) is reported, not thrown.
   */
  private async persistStateOrReport(e: Entry): Promise<void> {
    await this.persistState(e).catch((err) => this.o.onError?.(err, `recording the state of container ${e.spec.Id}`));
  }

  // ── create ────────────────────────────────────────────────────────────────────────────

  private get bridgeNetworking(): boolean {
    return this.o.network !== noopNetworkHook;
  }

  async create(opts: CreateOptions, signal?: AbortSignal): Promise<{ Id: string; Warnings: string[] }> {
    if (this.closed) throw new ShoalError('Unavailable', 'the container manager is shutting down');
    const { mounts } = checkCreateOptions(opts, this.bridgeNetworking);
    const image = await this.o.images.resolveForRun(opts.image, signal);
    const merged = mergeConfig(image.config, opts);
    const user = await resolveImageUser(merged.user, image.lowerDirs, image.ref);
    parseSignal(merged.stopSignal, 'stopSignal');

    // Reserve the name synchronously, before any further await.
    const name = opts.name ? opts.name.replace(/^\//, '') : generateName((n) => this.names.has(n));
    if (this.names.has(name)) {
      throw new ShoalError('AlreadyExists', `the container name "/${name}" is already in use by container ${this.names.get(name)}`, {
        kind: 'container',
        name,
      });
    }
    const id = newId();
    this.names.set(name, id);
    const dir = this.dataDirOf(id);
    const spec = buildContainerSpec({ id, name, created: this.now(), dir, opts: withDefaultLimits(opts, this.o.defaultLimits), image, merged, user, mounts });
    const e = newEntry(spec, newContainerState());
    this.entries.set(id, e);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await this.persistState(e); // `creating`: a crash from here on is cleaned at restore
      await mkdir(join(dir, 'rootfs', 'upper'), { recursive: true });
      await mkdir(join(dir, 'rootfs', 'work'), { recursive: true });
      for (const m of mounts) {
        // Docker creates a missing bind source directory.
        if (!existsSync(m.Source)) await mkdir(m.Source, { recursive: true });
      }
      await writeSpec(dir, spec);
      e.state = { ...e.state, Status: 'created' };
      await this.persistState(e);
    } catch (err) {
      this.entries.delete(id);
      this.names.delete(name);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw await explainNoSpace(err, dir, `creating container ${name}`);
    }
    return { Id: id, Warnings: createWarnings(opts, this.bridgeNetworking) };
  }

  // ── start ─────────────────────────────────────────────────────────────────────────────

  async start(ref: string, signal?: AbortSignal): Promise<void> {
    const e = this.find(ref);
    const t0 = performance.now();
    let started = false;
    await this.locked(e, async () => {
      const before = e.state.StartedAt;
      await this.startLocked(e, signal);
      started = e.state.StartedAt !== before;
    });
    if (started) this.o.onStarted?.(e.spec.Id, (performance.now() - t0) / 1000);
  }

  launchSpec(spec: ContainerSpec): LaunchSpec {
    return buildLaunchSpec(spec, {
      dataDir: this.dataDirOf(spec.Id),
      stateDir: this.runDirOf(spec.Id),
      logMaxBytes: this.o.logMaxBytes,
      logMaxFiles: this.o.logMaxFiles,
      seccomp: this.o.seccomp,
      cgroupProcsFiles: this.o.cgroups.open(spec.Id).procsFiles(),
    });
  }

  /** Before the start: replaced atomically; once bind-mounted (`att` given): rewritten in place. */
  private async writeEtcFiles(spec: ContainerSpec, att?: Pick<NetworkAttachment, 'hostsEntries' | 'dnsServers'>): Promise<void> {
    const dir = this.dataDirOf(spec.Id);
    const input = {
      hostname: spec.Config.Hostname,
      hostResolvConf: this.o.hostResolvConf,
      ...(att?.hostsEntries ? { hostsEntries: att.hostsEntries } : {}),
      ...(att?.dnsServers ? { dnsServers: att.dnsServers } : {}),
    };
    try {
      await writeEtcFiles(dir, input, att ? 'in-place' : 'replace');
    } catch (err) {
      throw await explainNoSpace(err, dir, `writing /etc/hostname, /etc/hosts and /etc/resolv.conf of container ${spec.Name.slice(1)}`);
    }
  }

  private async startLocked(e: Entry, signal?: AbortSignal): Promise<void> {
    const { spec } = e;
    if (e.removed) throw new ShoalError('NotFound', `no such container: ${spec.Id}`);
    if (!needsStart(spec, e.state)) return;
    const runDir = this.runDirOf(spec.Id);
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await this.writeEtcFiles(spec);
    await this.o.cgroups.open(spec.Id).destroy(signal);
    const cgroup = await this.o.cgroups.create(spec.Id, cgroupLimits(spec));
    const who = networkPeer(spec);
    let attached = false;
    let netState: ContainerState['Network'];
    let started;
    let terminals: TerminalWaiter[] = [];
    try {
      started = await this.o.driver.start(this.launchSpec(spec), {
        ...(signal ? { signal } : {}),
        onCreated: async (pid) => {
          const att = await this.o.network.attach(who, pid, networkRequest(spec));
          attached = true;
          e.network = att.networks;
          netState = Object.keys(att.networks).length > 0 ? { networks: att.networks, ports: att.ports ?? [] } : undefined;
          // The etc files are bind-mounted already: rewritten in place, before the process execs.
          if (att.hostsEntries?.length || att.dnsServers) await this.writeEtcFiles(spec, att);
          terminals = await connectForStart(e, () => this.o.driver.attachTerminal(runDir)); // before the process runs
        },
      });
    } catch (err) {
      await cgroup.destroy().catch(() => undefined);
      if (attached) await this.o.network.detach(who).catch(() => undefined);
      const se = toShoalError(err);
      startFailedForWaiters(e, terminals, se);
      e.state = { ...e.state, Error: se.message, ExitCode: 127 };
      await this.persistStateOrReport(e);
      throw se;
    }
    const before = e.state;
    armExit(e);
    e.cgroup = cgroup;
    e.state = runningState(e.state, started, this.now(), netState);
    try {
      await this.persistState(e);
    } catch (err) {
      startFailedForWaiters(e, terminals, err);
      // A run state.json does not record would be unknown to the next agent: undo it.
      await this.undoStart(e, before, cgroup, attached ? who : undefined, err);
    }
    this.watchExit(e);
    startedForWaiters(e, terminals, () => this.o.driver.attachTerminal(runDir));
  }

  /** Kills a run whose start could not be recorded; the container stays as it was, with the Error. */
  private async undoStart(e: Entry, before: ContainerState, cgroup: Cgroup, who: ReturnType<typeof networkPeer> | undefined, err: unknown): Promise<never> {
    const se = toShoalError(await explainNoSpace(err, this.dataDirOf(e.spec.Id), `recording the start of container ${e.spec.Name.slice(1)}`));
    await this.signalPid(e, 'SIGKILL').catch(() => undefined);
    await cgroup.destroy().catch((err2) => this.o.onError?.(err2, `removing cgroup of ${e.spec.Id}`));
    if (who) await this.o.network.detach(who).catch((err2) => this.o.onError?.(err2, `detaching network of ${e.spec.Id}`));
    e.cgroup = undefined;
    e.network = {};
    e.state = { ...before, Error: se.message, ExitCode: 127 };
    e.markExited();
    throw se;
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((err) => this.o.onError?.(err, 'background')).finally(() => this.background.delete(t));
    this.background.add(t);
  }

  private watchExit(e: Entry): void {
    const ac = new AbortController();
    e.watch = ac;
    const stateDir = this.runDirOf(e.spec.Id);
    this.track(
      this.o.driver.waitExit(stateDir, ac.signal).then(
        (st) => this.recordExit(e, st),
        async (err) => {
          if (ac.signal.aborted) return;
          // The monitor is gone or unreadable: take what it recorded, else mark the exit as lost.
          this.o.onError?.(err, `waiting for container ${e.spec.Id}`);
          const st = await this.o.driver.readExit(stateDir).catch(() => undefined);
          await this.recordExit(e, st, `lost track of the container: ${(err as Error).message}`);
        },
      ),
    );
  }

  private async recordExit(e: Entry, st: ExitStatus | undefined, lostMessage?: string): Promise<void> {
    e.watch = undefined;
    const cgroup = e.cgroup ?? this.o.cgroups.open(e.spec.Id);
    const oom = exitCodeOf(st) === 137 && (await cgroup.oomKilled().catch(() => false));
    await cgroup.destroy().catch((err) => this.o.onError?.(err, `removing cgroup of ${e.spec.Id}`));
    e.cgroup = undefined;
    await this.o.network.detach(networkPeer(e.spec)).catch((err) => this.o.onError?.(err, `detaching network of ${e.spec.Id}`));
    e.network = {};
    e.state = exitedState(e.state, st, oom, this.now(), lostMessage);
    await this.persistStateOrReport(e); // not recorded: the next agent reads the monitor's exit.json
    e.markExited();
    if (e.spec.HostConfig.AutoRemove && !this.closed) {
      this.track(this.remove(e.spec.Id, { force: true }).catch((err) => {
        if (!(err instanceof ShoalError && err.code === 'NotFound')) throw err;
      }));
    }
  }

  // ── signals, stop, restart, pause ─────────────────────────────────────────────────────

  private async signalPid(e: Entry, sig: NodeJS.Signals): Promise<void> {
    const { Pid, PidStartTime } = e.state;
    if (Pid <= 0 || !(await this.o.driver.isRunning(Pid, PidStartTime))) return;
    try {
      this.o.kill(Pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  private async waitExited(e: Entry, ms: number): Promise<boolean> {
    if (!isLive(e.state)) return true;
    if (ms < 0) {
      await e.exited;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    try {
      return await Promise.race([e.exited.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async stopLocked(e: Entry, timeoutS: number | undefined): Promise<void> {
    if (!isLive(e.state)) return;
    const t = timeoutS ?? e.spec.Config.StopTimeout;
    const sig = parseSignal(e.spec.Config.StopSignal);
    await this.signalPid(e, sig);
    if (e.state.Status === 'paused') await this.thawLocked(e);
    if (await this.waitExited(e, t < 0 ? -1 : t * 1000)) return;
    await this.signalPid(e, 'SIGKILL');
    if (!(await this.waitExited(e, 30_000))) {
      throw new ShoalError('Timeout', `container ${e.spec.Name.slice(1)} did not exit after SIGKILL`);
    }
  }

  /** Sends the stop signal, then SIGKILL after `timeoutS` seconds (the container's default, 10 s). */
  async stop(ref: string, timeoutS?: number): Promise<void> {
    const e = this.find(ref);
    await this.locked(e, () => this.stopLocked(e, timeoutS));
  }

  async restart(ref: string, timeoutS?: number): Promise<void> {
    const e = this.find(ref);
    await this.locked(e, async () => {
      await this.stopLocked(e, timeoutS);
      if (e.state.Status !== 'created') e.state = { ...e.state, RestartCount: e.state.RestartCount + 1 };
      await this.startLocked(e);
    });
  }

  async kill(ref: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const sig = parseSignal(signal);
    const e = this.find(ref);
    await this.locked(e, async () => {
      if (!isLive(e.state)) throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} is not running`);
      await this.signalPid(e, sig);
      if (sig === 'SIGKILL' && e.state.Status === 'paused') await this.thawLocked(e);
    });
  }

  async pause(ref: string): Promise<void> {
    const e = this.find(ref);
    await this.locked(e, async () => {
      if (e.state.Status === 'paused') throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} is already paused`);
      if (e.state.Status !== 'running') throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} is not running`);
      e.cgroup ??= this.o.cgroups.open(e.spec.Id);
      await e.cgroup.freeze();
      e.state = { ...e.state, Status: 'paused' };
      try {
        await this.persistState(e);
      } catch (err) {
        await this.thawLocked(e);
        throw err;
      }
    });
  }

  private async thawLocked(e: Entry): Promise<void> {
    e.cgroup ??= this.o.cgroups.open(e.spec.Id);
    await e.cgroup.thaw();
    if (e.state.Status === 'paused') {
      e.state = { ...e.state, Status: 'running' };
      await this.persistStateOrReport(e);
    }
  }

  async unpause(ref: string): Promise<void> {
    const e = this.find(ref);
    await this.locked(e, async () => {
      if (e.state.Status !== 'paused') throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} is not paused`);
      await this.thawLocked(e);
    });
  }

  // ── remove, wait ──────────────────────────────────────────────────────────────────────

  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const e = this.find(ref);
    await this.locked(e, async () => {
      if (e.removed) return;
      if (isLive(e.state)) {
        if (!opts.force) {
          throw new ShoalError(
            'FailedPrecondition',
            `cannot remove container ${e.spec.Name.slice(1)}: it is ${e.state.Status}; stop it first or use force`,
          );
        }
        await this.signalPid(e, 'SIGKILL');
        if (e.state.Status === 'paused') await this.thawLocked(e);
        if (!(await this.waitExited(e, 30_000))) {
          throw new ShoalError('Timeout', `container ${e.spec.Name.slice(1)} did not exit after SIGKILL`);
        }
      }
      e.state = { ...e.state, Status: 'removing' };
      await markRemoving(this.dataDirOf(e.spec.Id), e.state);
      await this.cleanup(e.spec.Id, e.spec);
      e.removed = true;
      this.entries.delete(e.spec.Id);
      if (this.names.get(e.spec.Name.slice(1)) === e.spec.Id) this.names.delete(e.spec.Name.slice(1));
    });
  }

  /** Removes every trace of a container: watcher, network, cgroup, runtime and data dirs. */
  private async cleanup(id: string, spec: ContainerSpec | undefined): Promise<void> {
    const e = this.entries.get(id);
    e?.watch?.abort();
    if (e) dropWaiters(e, new ShoalError('NotFound', `container ${id} was removed`));
    if (spec) {
      await this.o.network
        .detach(networkPeer(spec))
        .catch((err) => this.o.onError?.(err, `detaching network of ${id}`));
    }
    await this.o.cgroups.open(id).destroy();
    await rm(this.runDirOf(id), { recursive: true, force: true });
    await rm(this.dataDirOf(id), { recursive: true, force: true });
  }

  /** Blocks until the container is not running; its exit code. */
  async wait(ref: string, signal?: AbortSignal): Promise<{ StatusCode: number; OOMKilled: boolean }> {
    const e = this.find(ref);
    if (isLive(e.state)) {
      const aborted = new Promise<never>((_, rej) => {
        if (!signal) return;
        const onAbort = () => rej(new ShoalError('Canceled', 'wait canceled'));
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
      await Promise.race([e.exited, aborted]);
    }
    return { StatusCode: e.state.ExitCode, OOMKilled: e.state.OOMKilled };
  }

  // ── views ─────────────────────────────────────────────────────────────────────────────

  /** True when a container (in any state) uses the image id: `rmi` must refuse it (ImageService.setImageInUseHook). */
  usesImage(imageId: string): boolean {
    for (const e of this.entries.values()) if (!e.removed && e.spec.Image === imageId) return true;
    return false;
  }

  inspect(ref: string): ContainerInspect {
    const e = this.find(ref);
    return toInspect(e.spec, e.state, e.network);
  }

  /** Ids of the containers `list({all: true})` would show whose label `key` is set (to `value`, if given); no summaries built. */
  idsWithLabel(key: string, value?: string): string[] {
    return labelledIds(this.entries.values(), key, value);
  }

  list(opts: { all?: boolean } = {}): ContainerSummary[] {
    return summaries(this.entries.values(), opts, this.o.clock());
  }

  logs(ref: string, opts: LogsOptions = {}): AsyncGenerator<LogEntry> {
    const e = this.find(ref);
    return readLogs(e.spec.LogPath, {
      ...readLogsOptions(opts),
      exited: () => e.removed || !isLive(e.state),
      exitSignal: e.exited,
    });
  }

  async stats(ref: string): Promise<ContainerStats> {
    const e = this.find(ref);
    const base = { id: e.spec.Id, name: e.spec.Name, read: this.now() };
    if (!isLive(e.state) || !e.cgroup) {
      return { ...base, cpuUsageNs: 0, memoryBytes: 0, memoryLimit: e.spec.HostConfig.Memory, pids: 0, oomKillCount: 0 };
    }
    return { ...base, ...(await e.cgroup.stats()) };
  }

  /** Runs a command in a running container; resolves with its exit code. */
  async exec(ref: string, opts: ExecOptions): Promise<{ exitCode: number }> {
    const e = this.find(ref);
    if (e.state.Status === 'paused') throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} is paused`);
    if (e.state.Status !== 'running') throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} is not running`);
    checkExecOptions(opts);
    const user = opts.user ? await resolveImageUser(opts.user, e.spec.LowerDirs, e.spec.ImageRef) : e.spec.ProcessUser;
    return this.o.driver.exec(this.launchSpec(e.spec), { pid: e.state.Pid, pidStartTime: e.state.PidStartTime }, buildExecSpec(e.spec, opts, user));
  }

  /** A terminal container's session (terminals.ts `attachEntry`); FailedPrecondition is thrown at the call. */
  attachTerminal(ref: string, signal?: AbortSignal): Promise<TerminalSession> {
    const e = this.find(ref);
    return attachEntry(e, () => this.o.driver.attachTerminal(this.runDirOf(e.spec.Id)), signal);
  }

  /** Sets the window size of a running terminal container. */
  async resizeTerminal(ref: string, size: TerminalSize): Promise<void> {
    const e = this.find(ref);
    await resizeEntry(e, (s) => this.o.driver.resizeTerminal(this.runDirOf(e.spec.Id), s), size);
  }

  /** Stream into the container's stdin (created with openStdin). */
  async attachStdin(ref: string): Promise<NodeJS.WritableStream> {
    const e = this.find(ref);
    if (!e.spec.Config.OpenStdin) throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} was not created with stdin open`);
    if (!isLive(e.state)) throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} is not running`);
    return this.o.driver.attachStdin(this.runDirOf(e.spec.Id));
  }

  /** The attached client sent EOF: with StdinOnce the container now reads EOF too. */
  async stdinEnded(ref: string): Promise<void> {
    const e = this.find(ref);
    if (!e.spec.Config.StdinOnce || !isLive(e.state) || e.state.MonitorPid <= 0) return;
    await this.o.driver.closeStdin(e.state.MonitorPid);
  }

  /** Stops watching (containers keep running) and waits for background work. */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.entries.values()) e.watch?.abort();
    await Promise.allSettled([...this.background]);
    await this.o.driver.close?.();
  }

  // ── restore ───────────────────────────────────────────────────────────────────────────

  private async restore(): Promise<void> {
    await restoreContainers({
      containersDir: this.containersDir,
      runContainersDir: join(this.o.runDir, 'containers'),
      driver: this.o.driver,
      cgroups: this.o.cgroups,
      has: (id) => this.entries.has(id),
      register: (e) => {
        this.entries.set(e.spec.Id, e);
        this.names.set(e.spec.Name.slice(1), e.spec.Id);
      },
      cleanup: (id, spec) => this.cleanup(id, spec),
      watchExit: (e) => this.watchExit(e),
      recordExit: (e, st, lost) => this.recordExit(e, st, lost),
      onError: this.o.onError,
      onSkipped: (id, err) => this.o.onError?.(err, `container ${id} skipped: ${err.message}; its files, cgroup and runtime dir are left as they are (repair or remove ${this.dataDirOf(id)})`),
    });
  }
}
