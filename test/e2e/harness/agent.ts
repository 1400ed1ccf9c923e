/**
 * Starts a real `shoal-agent` (dist/shoal-agent.js) with its own socket, data and run dirs and
 * credentials file, and drives it with dist/shoalctl.js. stop() sends SIGTERM (SIGKILL after
 * 10 s) and removes the dirs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run, type RunResult } from './exec.js';
import { TempDirs } from './tmp.js';
import { until } from './wait.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');
export const AGENT_JS = join(REPO_ROOT, 'dist/shoal-agent.js');
export const CTL_JS = join(REPO_ROOT, 'dist/shoalctl.js');

export function builtCommandsPresent(): boolean {
  return existsSync(AGENT_JS) && existsSync(CTL_JS);
}

export interface TestAgent {
  socket: string;
  dataDir: string;
  runDir: string;
  credentials: string;
  /** The agent's process id (to watch what it opens, its fds, its memory). */
  pid: number;
  /** Runs `shoalctl --host unix://<socket> ARGS`. */
  ctl(args: readonly string[], opts?: { input?: string | Buffer; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /** Agent stderr so far (pino JSON lines). */
  logs(): string;
  /** The agent process is still running (it has not exited or crashed). */
  alive(): boolean;
  stop(): Promise<void>;
}

export interface AgentOptions {
  args?: string[];
  /** Re-use a data dir (kept by stop()). */
  dataDir?: string;
  /**
   * Re-use a run dir (kept by stop(); the socket is made there): an agent restarted on the same
   * data dir and run dir finds its containers' monitors again, as after a real restart.
   */
  runDir?: string;
}

export async function startTestAgent(opts: AgentOptions = {}): Promise<TestAgent> {
  const tmp = new TempDirs();
  const base = await tmp.make('shoal-agent-');
  const dataDir = opts.dataDir ?? join(base, 'data');
  const runDir = opts.runDir ?? join(base, 'run');
  const socket = join(runDir, 'agent.sock');
  const credentials = join(base, 'credentials.json');
  const child: ChildProcess = spawn(
    process.execPath,
    [AGENT_JS, '--socket', socket, '--data-dir', dataDir, '--run-dir', runDir, '--credentials', credentials, '--cgroup-parent', `shoal-e2e-${process.pid}`, ...bridgeArgs(opts.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: base } },
  );
  let logs = '';
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  const ctl = (args: readonly string[], o: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> =>
    run(process.execPath, [CTL_JS, '--host', `unix://${socket}`, ...args], { env: { ...process.env, HOME: base, ...o.env }, ...(o.input !== undefined ? { input: o.input } : {}) });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
    await tmp.cleanup();
    removeParentCgroups(`shoal-e2e-${process.pid}`);
  };
  try {
    // Serving, or exited: either ends the wait.
    const started = async (): Promise<'serving' | 'exited' | undefined> => {
      if (child.exitCode !== null) return 'exited';
      return existsSync(socket) && (await ctl(['images', '-q'])).code === 0 ? 'serving' : undefined;
    };
    const state = await until(`shoal-agent to serve ${socket}`, started, 20_000, 100).catch(() => {
      throw new Error(`shoal-agent did not serve ${socket}: ${logs}`);
    });
    if (state === 'exited') throw new Error(`shoal-agent exited at start (${child.exitCode}): ${logs}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, dataDir, runDir, credentials, pid: child.pid ?? 0, ctl, logs: () => logs, alive: () => child.exitCode === null && child.signalCode === null, stop };
}

/** Tests get no bridge unless they ask for one (`--bridge NAME`), so they leave no shoal0 behind. */
function bridgeArgs(args: string[]): string[] {
  return args.includes('--bridge') ? args : ['--bridge', 'none', ...args];
}

/** The agent removes its containers' cgroups; the parent it was given is the test's to remove (when empty). */
function removeParentCgroups(parent: string): void {
  const root = '/sys/fs/cgroup';
  const dirs = [join(root, parent), ...(existsSync(root) ? readdirSync(root).map((c) => join(root, c, parent)) : [])];
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch {
      /* absent, or still used by another agent of this test process */
    }
  }
}
