/**
 * A RuntimeDriver that runs nothing: "processes" are records that the test (or a signal)
 * ends. It outlives a ContainerManager, like the real monitors outlive the agent, so restore
 * is testable. `kill` is the signal function to give the manager.
 */
import { PassThrough, type Writable } from 'node:stream';
import { ShoalError, type TerminalSize } from '../../api/index.js';
import type { ContainerProcess, ExecSpec, ExitStatus, LaunchSpec, RuntimeDriver, StartOptions, Started, TerminalAttachment } from '../helper/driver.js';

interface FakeProc {
  pid: number;
  spec: LaunchSpec;
  startTime: string;
  exit?: ExitStatus;
  waiters: Array<(st: ExitStatus) => void>;
}

export class FakeDriver implements RuntimeDriver {
  private nextPid = 1000;
  readonly procs = new Map<number, FakeProc>();
  private readonly byStateDir = new Map<string, FakeProc>();
  /** Signals each container ignores (by container id), e.g. SIGTERM. */
  readonly ignores = new Map<string, Set<string>>();
  readonly signals: Array<{ pid: number; signal: string }> = [];
  readonly execs: Array<{ pid: number; exec: ExecSpec }> = [];
  /** Make the next start fail with this error. */
  failNextStart: Error | undefined;
  /** Exit status for the next exec. */
  execExitCode = 0;
  clock: () => Date = () => new Date();

  async start(spec: LaunchSpec, opts: StartOptions = {}): Promise<Started> {
    if (this.failNextStart) {
      const err = this.failNextStart;
      this.failNextStart = undefined;
      throw err;
    }
    const pid = this.nextPid++;
    const proc: FakeProc = { pid, spec, startTime: String(pid * 7), waiters: [] };
    // Known (a terminal can be attached) from `created` on, as a monitor's socket is.
    this.procs.set(pid, proc);
    this.byStateDir.set(spec.stateDir, proc);
    try {
      await opts.onCreated?.(pid);
    } catch (err) {
      this.procs.delete(pid);
      this.byStateDir.delete(spec.stateDir);
      throw err;
    }
    return { pid, monitorPid: pid + 100_000, pidStartTime: proc.startTime };
  }

  /** Ends a container's PID 1 with this exit code (as the monitor would record it). */
  exit(pid: number, exitCode: number, signal?: string): void {
    const p = this.procs.get(pid);
    if (!p || p.exit) return;
    p.exit = { exitCode, finishedAt: this.clock().toISOString(), ...(signal ? { signal } : {}) };
    for (const w of p.waiters.splice(0)) w(p.exit);
  }

  /** The manager's signal function: SIGKILL always kills; other signals unless ignored. */
  kill = (pid: number, signal: NodeJS.Signals): void => {
    this.signals.push({ pid, signal });
    const p = this.procs.get(pid);
    if (!p || p.exit) {
      const err = new Error('kill ESRCH') as NodeJS.ErrnoException;
      err.code = 'ESRCH';
      throw err;
    }
    if (signal !== 'SIGKILL' && this.ignores.get(p.spec.id)?.has(signal)) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGWINCH' || signal === 'SIGHUP') return;
    const num: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGQUIT: 3, SIGUSR1: 10 };
    this.exit(pid, 128 + (num[signal] ?? 15), signal);
  };

  exec(spec: LaunchSpec, target: ContainerProcess, exec: ExecSpec): Promise<{ exitCode: number }> {
    const p = this.procs.get(target.pid);
    if (!p || p.exit || p.startTime !== target.pidStartTime) {
      return Promise.reject(new ShoalError('FailedPrecondition', `container ${spec.id} is not running`));
    }
    this.execs.push({ pid: target.pid, exec });
    exec.stdout.write(`ran ${exec.args.join(' ')}\n`);
    return Promise.resolve({ exitCode: this.execExitCode });
  }

  readExit(stateDir: string): Promise<ExitStatus | undefined> {
    return Promise.resolve(this.byStateDir.get(stateDir)?.exit);
  }

  waitExit(stateDir: string, signal?: AbortSignal): Promise<ExitStatus> {
    const p = this.byStateDir.get(stateDir);
    if (!p) return Promise.reject(new Error(`fake driver: nothing started in ${stateDir}`));
    if (p.exit) return Promise.resolve(p.exit);
    return new Promise((resolve, reject) => {
      const w = (st: ExitStatus) => resolve(st);
      p.waiters.push(w);
      signal?.addEventListener(
        'abort',
        () => {
          p.waiters = p.waiters.filter((x) => x !== w);
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        },
        { once: true },
      );
    });
  }

  attachStdin(_stateDir: string): Promise<Writable> {
    return Promise.resolve(new PassThrough());
  }

  /** What attached terminals typed and the sizes they set (for tests), by state dir. */
  readonly terminals: Array<{ stateDir: string; typed: Buffer[]; sizes: TerminalSize[]; output: PassThrough }> = [];

  /** A terminal whose output is a PassThrough the test writes (and ends, as an exit would). */
  attachTerminal(stateDir: string): Promise<TerminalAttachment> {
    const p = this.byStateDir.get(stateDir);
    if (!p || p.exit) return Promise.reject(new ShoalError('FailedPrecondition', 'container is not running'));
    const t = { stateDir, typed: [] as Buffer[], sizes: [] as TerminalSize[], output: new PassThrough() };
    this.terminals.push(t);
    return Promise.resolve({
      output: t.output,
      write: (data) => void t.typed.push(data),
      resize: (size) => void t.sizes.push(size),
      close: () => void t.output.destroy(),
    });
  }

  resizeTerminal(stateDir: string, size: TerminalSize): Promise<void> {
    this.terminals.push({ stateDir, typed: [], sizes: [size], output: new PassThrough() });
    return Promise.resolve();
  }

  /** Monitor pids whose stdin was closed (for tests). */
  readonly stdinClosed: number[] = [];

  closeStdin(monitorPid: number): Promise<void> {
    this.stdinClosed.push(monitorPid);
    return Promise.resolve();
  }

  isRunning(pid: number, pidStartTime: string): Promise<boolean> {
    const p = this.procs.get(pid);
    return Promise.resolve(!!p && !p.exit && p.startTime === pidStartTime);
  }

  /** PIDs of containers still running. */
  running(): number[] {
    return [...this.procs.values()].filter((p) => !p.exit).map((p) => p.pid);
  }
}
