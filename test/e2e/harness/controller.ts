/**
 * Starts a real `shoal-controller` (dist/shoal-controller.js) on a free loopback port with
 * `--node-timeout 2s --leader-lease 2s` (plus `args`), its output in a log file under its
 * data dir. `stopController` sends a signal (default SIGTERM) and SIGKILLs after `ms`;
 * `controllerInfo` reads `/apis/shoal/v1/cluster/info` (who this is, who leads).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTROLLER_JS } from './build.js';
import { freeLoopbackPort } from './ports.js';

export interface ControllerProc {
  child: ChildProcess;
  url: string;
  dataDir: string;
  logPath: string;
  exited: Promise<number | null>;
}

export interface ControllerOptions {
  /** etcd client URLs (absent: the controller runs its own embedded etcd). */
  etcd?: string[];
  dataDir: string;
  port?: number;
  args?: string[];
}

export async function startController(opts: ControllerOptions): Promise<ControllerProc> {
  const port = opts.port ?? (await freeLoopbackPort());
  const args = [CONTROLLER_JS, '--listen', `127.0.0.1:${port}`, '--data-dir', opts.dataDir, '--node-timeout', '2s', '--leader-lease', '2s', ...(opts.args ?? [])];
  if (opts.etcd) args.push('--etcd', opts.etcd.join(','));
  await mkdir(opts.dataDir, { recursive: true });
  const logPath = join(opts.dataDir, `controller-${port}-${Date.now()}.log`);
  const log = createWriteStream(logPath);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_LOG_LEVEL: 'debug' } });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, url: `http://127.0.0.1:${port}`, dataDir: opts.dataDir, logPath, exited };
}

export async function stopController(c: ControllerProc, signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<number | null> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return c.child.exitCode;
  // A stopped (SIGSTOP) process would never see the signal.
  c.child.kill('SIGCONT');
  c.child.kill(signal);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), ms);
  const code = await c.exited;
  clearTimeout(timer);
  return code;
}

export interface ControllerInfo {
  controller: { id: string; isLeader: boolean };
  leader?: string;
}

export async function controllerInfo(c: ControllerProc, timeoutMs = 3000): Promise<ControllerInfo> {
  const res = await fetch(`${c.url}/apis/shoal/v1/cluster/info`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET cluster/info of ${c.url}: HTTP ${res.status}`);
  return (await res.json()) as ControllerInfo;
}
