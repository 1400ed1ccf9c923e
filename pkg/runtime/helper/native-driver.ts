/**
 * The RuntimeDriver backed by `native/build/shoal-runtime`. Each start spawns the helper with
 * the config on fd 3 (a socket), answers its `created` with the network hook and `go`, and
 * resolves on `started`. The container's monitor is not our child, so nothing here needs to
 * live for the container to keep running; exits are read from `exit.json`.
 * Protocol: docs/runtime-helper.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsc, existsSync, open, watch, type FSWatcher } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createConnection, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { encodeTerminalFrame, ShoalError, toShoalError, type TerminalSize } from '../../api/index.js';
import {
  UNKNOWN_EXIT_CODE, type ContainerProcess, type ExecSpec, type ExitStatus, type LaunchSpec, type RuntimeDriver, type StartOptions, type Started, type TerminalAttachment,
} from './driver.js';
import { LineReader } from './line-reader.js';
import { HelperSpawner } from './spawner.js';
import { ATTACH_SOCKET, processMatches, readExitFile, readPidFile, STDIN_FIFO, writeExitFile } from './state-files.js';
import { encodeExecConfig, encodeStartConfig, parseHelperLine, resizeLine } from './wire.js';
import { signalNumber } from '../container/units.js';

export interface NativeDriverOptions {
  /** Path of shoal-runtime; default: native/build/shoal-runtime under the package root. */
  binaryPath?: string;
  /** How often waitExit re-checks besides file events (ms). */
  pollIntervalMs?: number;
  /** Time source for exits the driver has to record itself. */
  now?: () => Date;
  /**
   * Fork container launchers from a long-lived `shoal-runtime spawner` that connects them
   * back through a Unix socket at this path (the agent's run dir), instead of forking this
   * process for each start. Absent: every start spawns the helper directly.
   */
  spawnerSocket?: string;
  /** Diagnostics of the spawner (its stderr, a fallback to direct spawning). */
  onLog?: (line: string) => void;
}

/** Walks up from this module to the directory holding package.json. */
export function findPackageRoot(from: string = fileURLToPath(import.meta.url)): string | undefined {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function defaultBinaryPath(): string {
  const root = findPackageRoot();
  return join(root ?? process.cwd(), 'native', 'build', 'shoal-runtime');
}

const STDERR_LIMIT = 8192;
const EXEC_DRAIN_MS = 1000;

/** Longest interval between two exit checks of a watched container (see waitExit). */
const MAX_BACKSTOP_POLL_MS = 5000;

export class NativeDriver implements RuntimeDriver {
  readonly binaryPath: string;
  private readonly pollMs: number;
  private readonly now: () => Date;

  private readonly spawner: HelperSpawner | undefined;
  private readonly onLog: (line: string) => void;

  constructor(opts: NativeDriverOptions = {}) {
    this.binaryPath = opts.binaryPath ?? defaultBinaryPath();
    this.pollMs = opts.pollIntervalMs ?? 200;
    this.now = opts.now ?? (() => new Date());
    this.onLog = opts.onLog ?? (() => undefined);
    this.spawner = opts.spawnerSocket !== undefined ? new HelperSpawner(this.binaryPath, opts.spawnerSocket, this.onLog) : undefined;
  }

  async close(): Promise<void> {
    await this.spawner?.close();
  }

  /**
   * fd 3 and stderr of a new `start` launcher: from the spawner when there is one, else (or
   * when it fails) a child of this process.
   */
  private async launcher(signal?: AbortSignal): Promise<{ ctl: Duplex; stderr: Readable | null; spawnError: Promise<never>; done: () => void }> {
    if (this.spawner !== undefined) {
      try {
        const h = await this.spawner.launch(signal);
        return { ctl: h.ctl, stderr: h.stderr, spawnError: new Promise<never>(() => undefined), done: () => h.stderr.destroy() };
      } catch (err) {
        if (signal?.aborted) throw err;
        this.onLog(`starting the launcher directly: ${(err as Error).message}`);
      }
    }
    const child = this.spawnHelper('start', ['ignore', 'ignore', 'pipe']);
    const spawnError = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new ShoalError('Internal', `spawn ${this.binaryPath}: ${err.message}`, { cause: err })));
    });
    spawnError.catch(() => undefined);
    return {
      ctl: child.stdio[3] as Duplex,
      stderr: child.stderr,
      spawnError,
      done: () => {
        child.stderr?.destroy();
        child.unref();
      },
    };
  }

  private spawnHelper(cmd: 'start' | 'exec', stdio: Array<'pipe' | 'ignore'>): ChildProcess {
    if (!existsSync(this.binaryPath)) {
      throw new ShoalError('FailedPrecondition', `container helper ${this.binaryPath} is missing (run \`make native\`)`);
    }
    return spawn(this.binaryPath, [cmd], { stdio: [...stdio, 'pipe'] });
  }

  async start(spec: LaunchSpec, opts: StartOptions = {}): Promise<Started> {
    const config = encodeStartConfig(spec);
    opts.signal?.throwIfAborted();
    const { ctl, stderr: errStream, spawnError, done } = await this.launcher(opts.signal);
    const stderr = collect(errStream);
    const lines = new LineReader(ctl);
    ctl.resume();
    errStream?.resume();
    try {
      ctl.write(config);
      let msg = await this.nextMessage(lines, stderr, spawnError, opts.signal);
      if (msg.type === 'created') {
        // PID 1 inherited the monitor's protected score; it runs nothing of its own before `go`.
        if (spec.oomScoreAdj !== undefined) await setOomScoreAdj(msg.pid, spec.oomScoreAdj);
        // A rejection or an abort closes the channel; the monitor then kills the container.
        await opts.onCreated?.(msg.pid);
        opts.signal?.throwIfAborted();
        ctl.write('go\n');
        // Committed: past this point an abort could leave a running container nobody knows
        // about, so wait for the answer without the signal.
        msg = await this.nextMessage(lines, stderr, spawnError);
      }
      if (msg.type === 'started') return { pid: msg.pid, monitorPid: msg.monitorPid, pidStartTime: msg.pidStartTime };
      if (msg.type === 'error') throw new ShoalError(msg.code, `start container ${spec.id}: ${msg.message}`);
      throw new ShoalError('Internal', `start container ${spec.id}: protocol error (got ${msg.type} twice)`);
    } catch (err) {
      throw toShoalError(err);
    } finally {
      lines.close();
      ctl.destroy();
      done();
    }
  }

  private async nextMessage(lines: LineReader, stderr: () => string, spawnError: Promise<never>, signal?: AbortSignal) {
    const line = await Promise.race([lines.next(signal), spawnError]);
    if (line === undefined) {
      const text = stderr().trim();
      throw new ShoalError('Internal', `shoal-runtime exited without an answer${text ? `: ${text}` : ''}`);
    }
    return parseHelperLine(line);
  }

  async exec(spec: LaunchSpec, target: ContainerProcess, e: ExecSpec): Promise<{ exitCode: number }> {
    const config = encodeExecConfig(spec, target, e);
    e.signal?.throwIfAborted();
    const child = this.spawnHelper('exec', [e.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe']);
    const ctl = child.stdio[3] as Duplex;
    const lines = new LineReader(ctl);
    child.stdout?.pipe(e.stdout, { end: false });
    child.stderr?.pipe(e.stderr, { end: false });
    if (e.stdin && child.stdin) {
      child.stdin.on('error', () => undefined); // EPIPE when the process exits first
      e.stdin.pipe(child.stdin);
    }
    const onAbort = () => child.kill('SIGTERM'); // forwarded to the process by the helper
    e.signal?.addEventListener('abort', onAbort, { once: true });
    // A tty exec keeps fd 3 open: window sizes go down it as lines, after the config (one that
    // comes earlier is held until then).
    let configSent = false;
    let early: TerminalSize | undefined;
    const onResize = (size: TerminalSize): void => {
      if (!configSent) early = size;
      else if (!ctl.destroyed) ctl.write(resizeLine(size));
    };
    e.tty?.resizes?.on('resize', onResize);
    try {
      const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
        child.once('error', (err) => reject(new ShoalError('Internal', `spawn ${this.binaryPath}: ${err.message}`, { cause: err })));
        child.once('close', (code, sig) => resolve({ code, signal: sig }));
        // A background process of the exec may hold stdout open forever: once the helper has
        // exited, give the output a moment to drain, then stop waiting for it.
        child.once('exit', (code, sig) => {
          const t = setTimeout(() => {
            child.stdout?.destroy();
            child.stderr?.destroy();
            resolve({ code, signal: sig });
          }, EXEC_DRAIN_MS);
          t.unref();
        });
      });
      // The helper forks the process only after reading its config: set the score it inherits.
      if (spec.oomScoreAdj !== undefined && child.pid !== undefined) await setOomScoreAdj(child.pid, spec.oomScoreAdj);
      ctl.write(config);
      configSent = true;
      if (early) onResize(early);
      let error: ShoalError | undefined;
      for (let line = await lines.next(); line !== undefined; line = await lines.next()) {
        const msg = parseHelperLine(line);
        if (msg.type === 'error') error = new ShoalError(msg.code, `exec in ${spec.id}: ${msg.message}`);
      }
      const res = await closed;
      if (error) throw error;
      if (e.signal?.aborted) throw new ShoalError('Canceled', `exec in ${spec.id} canceled`);
      if (res.code === null) return { exitCode: 128 + (signalNumber(res.signal ?? 'SIGTERM') || 15) };
      return { exitCode: res.code };
    } finally {
      e.signal?.removeEventListener('abort', onAbort);
      e.tty?.resizes?.off('resize', onResize);
      if (e.stdin && child.stdin) e.stdin.unpipe(child.stdin);
      lines.close();
      ctl.destroy();
    }
  }

  async readExit(stateDir: string): Promise<ExitStatus | undefined> {
    return readExitFile(stateDir);
  }

  async waitExit(stateDir: string, signal?: AbortSignal): Promise<ExitStatus> {
    const first = await readExitFile(stateDir);
    if (first) return first;
    if (!existsSync(stateDir)) throw new ShoalError('NotFound', `no container state in ${stateDir}`);
    let watcher: FSWatcher | undefined;
    let wake: (() => void) | undefined;
    // Set by every file event, so one that arrives while a check runs is not lost.
    let dirty = false;
    try {
      try {
        watcher = watch(stateDir, () => {
          dirty = true;
          wake?.();
        });
        watcher.on('error', () => undefined);
      } catch {
        watcher = undefined; // polling alone still works
      }
      // With the directory watched, exit.json's rename wakes us at once and the poll is only a
      // backstop for a monitor killed before it could write it: it backs off to 5 s, so an
      // agent with hundreds of running containers does not read their state files 5 times a
      // second each. Without a watcher the poll is all there is and stays at pollMs.
      let every = this.pollMs;
      for (;;) {
        if (signal?.aborted) throw new ShoalError('Canceled', `wait for the exit in ${stateDir} canceled`);
        dirty = false;
        const st = await this.checkExit(stateDir);
        if (st) return st;
        if (dirty) continue;
        const wait = every;
        if (watcher !== undefined) every = Math.min(every * 2, Math.max(this.pollMs, MAX_BACKSTOP_POLL_MS));
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, wait);
          function done() {
            clearTimeout(t);
            signal?.removeEventListener('abort', done);
            resolve();
          }
          wake = done;
          signal?.addEventListener('abort', done, { once: true });
        });
      }
    } catch (err) {
      throw toShoalError(err);
    } finally {
      watcher?.close();
    }
  }

  /** exit.json, or, when the monitor is gone without writing one, an "unknown" exit once PID 1 is gone too. */
  private async checkExit(stateDir: string): Promise<ExitStatus | undefined> {
    const st = await readExitFile(stateDir);
    if (st) return st;
    const pids = await readPidFile(stateDir);
    if (!pids) {
      if (!existsSync(stateDir)) throw new ShoalError('NotFound', `container state ${stateDir} was removed`);
      return undefined; // not started yet, or start still in progress
    }
    if (await processMatches(pids.monitorPid, pids.monitorStartTime)) return undefined;
    // The monitor writes exit.json right before it exits: look again before concluding.
    const again = await readExitFile(stateDir);
    if (again) return again;
    if (await processMatches(pids.pid, pids.pidStartTime)) return undefined;
    const lost: ExitStatus = { exitCode: UNKNOWN_EXIT_CODE, finishedAt: this.now().toISOString() };
    await writeExitFile(stateDir, lost).catch(() => undefined);
    return lost;
  }

  async attachStdin(stateDir: string): Promise<Writable> {
    const path = join(stateDir, STDIN_FIFO);
    try {
      // A raw fd (not a FileHandle, which would close it when collected), owned by the socket.
      const fd = await new Promise<number>((res, rej) => open(path, fsc.O_WRONLY | fsc.O_NONBLOCK, (err, n) => (err ? rej(err) : res(n))));
      return new Socket({ fd, readable: false, writable: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new ShoalError('FailedPrecondition', 'container was not started with an open stdin');
      if (code === 'ENXIO') throw new ShoalError('FailedPrecondition', 'container is not running');
      throw toShoalError(err);
    }
  }

  async attachTerminal(stateDir: string): Promise<TerminalAttachment> {
    const s = await connectMonitor(stateDir);
    s.on('error', () => undefined); // a reset ends `output` like an EOF
    const send = (frame: Buffer): void => {
      if (!s.destroyed && s.writable) s.write(frame);
    };
    send(encodeTerminalFrame({ type: 'attach' }));
    return {
      output: s,
      write: (data) => send(encodeTerminalFrame({ type: 'input', data })),
      resize: (size) => send(encodeTerminalFrame({ type: 'resize', ...size })),
      close: () => s.destroy(),
    };
  }

  async resizeTerminal(stateDir: string, size: TerminalSize): Promise<void> {
    const s = await connectMonitor(stateDir);
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.end(encodeTerminalFrame({ type: 'resize', ...size }), () => resolve()));
    s.destroy();
  }

  async closeStdin(monitorPid: number): Promise<void> {
    // Only signal a process that is one of our monitors (a pid may have been reused).
    const cmdline = await readFile(`/proc/${monitorPid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes('shoal-runtime')) return;
    try {
      process.kill(monitorPid, 'SIGUSR1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw toShoalError(err);
    }
  }

  async isRunning(pid: number, pidStartTime: string): Promise<boolean> {
    return processMatches(pid, pidStartTime);
  }
}

/**
 * Writes /proc/<pid>/oom_score_adj. Without CAP_SYS_RESOURCE (some sandboxes) the score can only
 * go up: a process already at or above the value is fine; one that would stay more protected
 * than asked fails the start.
 */
export async function setOomScoreAdj(pid: number, value: number): Promise<void> {
  const file = `/proc/${pid}/oom_score_adj`;
  try {
    await writeFile(file, String(value));
  } catch (err) {
    const now = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(now) && now >= value) return;
    throw new ShoalError('Internal', `set oom_score_adj of process ${pid} to ${value}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Connects to the monitor's attach socket. The state dir's path may be longer than a socket
 * address holds, so the socket is reached through an fd of the directory.
 */
async function connectMonitor(stateDir: string): Promise<Socket> {
  const notRunning = (): ShoalError => new ShoalError('FailedPrecondition', 'container is not running');
  let dir: number;
  try {
    dir = await new Promise<number>((res, rej) => open(stateDir, fsc.O_RDONLY | fsc.O_DIRECTORY, (err, fd) => (err ? rej(err) : res(fd))));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notRunning();
    throw toShoalError(err);
  }
  try {
    return await new Promise<Socket>((resolve, reject) => {
      const s = createConnection({ path: `/proc/self/fd/${dir}/${ATTACH_SOCKET}` });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') throw notRunning();
    throw toShoalError(err);
  } finally {
    closeSync(dir);
  }
}

function collect(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.on('data', (b: Buffer) => {
    if (text.length < STDERR_LIMIT) text += b.toString('utf8');
  });
  stream?.on('error', () => undefined);
  return () => text.slice(0, STDERR_LIMIT);
}


