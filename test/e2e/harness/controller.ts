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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { freeLoopbackPort } from './ports.js';
import { trustCluster } from './tls.js';

let sharedKey: string | undefined;
/** One cluster key for every controller this test process starts (they may share an etcd). */
export function sharedClusterKeyFile(): string {
  if (sharedKey === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-e2e-key-'));
    sharedKey = join(dir, 'cluster.key');
    writeFileSync(sharedKey, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return sharedKey;
}

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
  /** Wait for its admin.config and trust it for this process's fetch (default true). */
  trust?: boolean;
}

export async function startController(opts: ControllerOptions): Promise<ControllerProc> {
  const port = opts.port ?? (await freeLoopbackPort());
  const args = [
    CONTROLLER_JS, '--listen', `127.0.0.1:${port}`, '--data-dir', opts.dataDir, '--node-timeout', '2s', '--leader-lease', '2s', '--cluster-key-file', sharedClusterKeyFile(),
    ...(opts.args ?? []),
  ];
  if (opts.etcd) args.push('--etcd', opts.etcd.join(','));
  await mkdir(opts.dataDir, { recursive: true });
  const logPath = join(opts.dataDir, `controller-${port}-${Date.now()}.log`);
  const log = createWriteStream(logPath);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_LOG_LEVEL: 'debug' } });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));
  if (opts.trust !== false) {
    await trustCluster(opts.dataDir, () => !done).catch((err: unknown) => {
      throw new Error(`${String(err)} (log: ${logPath})`);
    });
  }
  return { child, url: `https://127.0.0.1:${port}`, dataDir: opts.dataDir, logPath, exited };
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
