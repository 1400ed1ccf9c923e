/**
 * Child processes of the e2e tests (agents, controllers): stdout and stderr kept (the last
 * MiB), `alive()`, and a stop that escalates to SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const LOG_CAP = 1 << 20;

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  logs(): string;
  alive(): boolean;
}

export function startProc(name: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let logs = '';
  const keep = (d: Buffer): void => {
    logs += d.toString();
    if (logs.length > LOG_CAP) logs = logs.slice(-LOG_CAP / 2);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('error', (err) => keep(Buffer.from(`spawn ${cmd}: ${err.message}\n`)));
  return { name, child, exited, logs: () => logs, alive: () => child.exitCode === null && child.signalCode === null };
}

/** `node ARGS` (a dist/ bundle). */
export function startNode(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
  return startProc(name, process.execPath, args, env);
}

export async function stopProc(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (p === undefined || !p.alive()) return;
  p.child.kill(signal);
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(t);
}

export function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
