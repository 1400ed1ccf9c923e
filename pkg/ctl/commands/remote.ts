/**
 * `shoalctl logs service/NAME|task/NAME` and `shoalctl exec task/NAME -- CMD`: the cluster
 * forms of the engine's logs and exec, through the controller (which reaches the task's node
 * over that node's tunnel), so the user never needs to know where a replica runs.
 * containers.ts (logs) and run.ts (exec) dispatch here on the `service/` and `task/`
 * prefixes; plain container names keep going to the local engine.
 */
import type { Command } from 'commander';
import { errors, fromStatus, toShoalError, type ExecSpec, type TaskLogEntry } from '../../api/index.js';
import type { LogOptions } from '../../client/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext, OutStream } from '../context.js';
import { logText, printExecFrames, writeLogEntries } from '../output.js';
import { runTerminal, type TerminalOptions } from '../terminal.js';

export interface RemoteRef {
  kind: 'service' | 'task';
  name: string;
}

const PREFIXES: Record<string, RemoteRef['kind']> = {
  service: 'service', services: 'service', svc: 'service',
  task: 'task', tasks: 'task',
};

/** `service/web` or `task/web.1.abc`; undefined for anything else (a container name or id). */
export function parseRemoteRef(s: string): RemoteRef | undefined {
  const i = s.indexOf('/');
  if (i <= 0) return undefined;
  const kind = PREFIXES[s.slice(0, i).toLowerCase()];
  if (kind === undefined) return undefined;
  const name = s.slice(i + 1);
  if (name === '' || name.includes('/')) throw errors.invalidArgument(`"${s}": want ${kind}/NAME`);
  return { kind, name };
}

// ── service log lines ─────────────────────────────────────────────────────────────────────

/** Prefix colours on a terminal: cyan, yellow, green, magenta, blue, red, then again. */
const COLOURS = [36, 33, 32, 35, 34, 31];

/**
 * Prints service log entries as `task-name | text` (on a terminal: names padded to the widest
 * seen so far and coloured per task; in pipes the plain prefix, for scripts), stderr entries
 * to stderr, `{task, error}` entries as an error line on stderr. Pure apart from the two streams.
 */
export class ServiceLogPrinter {
  private readonly colourOf = new Map<string, number>();
  private width = 0;
  /** Tasks whose logs could not be read. */
  failed = 0;

  constructor(
    private readonly out: OutStream,
    private readonly err: OutStream,
    private readonly opts: { timestamps: boolean; colour: { out: boolean; err: boolean }; align?: boolean },
  ) {}

  private prefix(task: string, colour: boolean): string {
    if (task.length > this.width) this.width = task.length;
    let c = this.colourOf.get(task);
    if (c === undefined) {
      c = COLOURS[this.colourOf.size % COLOURS.length] ?? 36;
      this.colourOf.set(task, c);
    }
    const padded = this.opts.align ? task.padEnd(this.width) : task;
    return colour ? `\x1b[${c}m${padded}\x1b[0m | ` : `${padded} | `;
  }

  write(e: TaskLogEntry): void {
    const task = e.task ?? '?';
    if (e.error) {
      this.failed++;
      const x = fromStatus(e.error.code, e.error);
      this.err.write(`${this.prefix(task, this.opts.colour.err)}error: ${x.code}: ${x.message}\n`);
      return;
    }
    const toErr = e.stream === 'stderr';
    const text = logText(e, this.opts.timestamps);
    // One prefix per line, also when an entry carries several.
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    const p = this.prefix(task, toErr ? this.opts.colour.err : this.opts.colour.out);
    (toErr ? this.err : this.out).write(lines.map((l) => `${p}${l}\n`).join(''));
  }
}

function wantsColour(s: OutStream, env: CtlContext['env']): boolean {
  return s.isTTY === true && env['NO_COLOR'] === undefined && env['TERM'] !== 'dumb';
}

// ── commands ──────────────────────────────────────────────────────────────────────────────

export interface RemoteLogsOptions {
  follow?: boolean;
  /** `all` or a number (checked by `parseTail`). */
  tail: string;
  timestamps?: boolean;
  since?: string;
  namespace?: string;
}

export async function remoteLogs(ref: RemoteRef, o: RemoteLogsOptions, cmd: Command, ctx: CtlContext): Promise<void> {
  const c = await apiClient(cmd, ctx);
  const ns = o.namespace ?? 'default';
  const lo: LogOptions = {
    ...(o.follow ? { follow: true } : {}),
    ...(o.tail !== 'all' ? { tailLines: Number(o.tail) } : {}),
    ...(o.timestamps ? { timestamps: true } : {}),
    ...(o.since !== undefined ? { sinceTime: o.since } : {}),
  };
  if (ref.kind === 'task') return writeLogEntries(c.taskLogs(ns, ref.name, lo, ctx.signal), ctx, !!o.timestamps);
  const printer = new ServiceLogPrinter(ctx.stdout, ctx.stderr, {
    timestamps: !!o.timestamps,
    colour: { out: wantsColour(ctx.stdout, ctx.env), err: wantsColour(ctx.stderr, ctx.env) },
    align: ctx.stdout.isTTY === true,
  });
  for await (const e of c.serviceLogs(ns, ref.name, lo, ctx.signal)) printer.write(e);
  if (printer.failed > 0) ctx.setExitCode(1);
}

export interface RemoteExecOptions {
  interactive: boolean;
  /** A terminal session (`exec -t`): the body is the frame stream, through the tunnel as bytes. */
  terminal?: TerminalOptions;
  namespace?: string;
}

/** Runs `spec` in the task's container; the exit code is the command's. */
export async function remoteExec(ref: RemoteRef, spec: ExecSpec, o: RemoteExecOptions, cmd: Command, ctx: CtlContext): Promise<void> {
  if (ref.kind !== 'task') throw errors.invalidArgument(`exec runs in one replica: use task/NAME (shoalctl get tasks lists them), not ${ref.kind}/${ref.name}`);
  if (spec.cmd[0] === '--') spec = { ...spec, cmd: spec.cmd.slice(1) };
  if (spec.cmd.length === 0) throw errors.invalidArgument('usage: shoalctl exec [-i] task/NAME -- COMMAND [ARG...]');
  const c = await apiClient(cmd, ctx);
  if (o.terminal) {
    const ns = o.namespace ?? 'default';
    const res = await runTerminal(ctx, o.terminal, (input, signal) => Promise.resolve(c.execTask(ns, ref.name, spec, input, signal)));
    if (res.exitCode !== undefined) ctx.setExitCode(res.exitCode);
    else if (!res.detached && !ctx.signal.aborted) throw errors.unavailable(`the exec in task ${ref.name} ended without an exit code (its node or the controller went away)`);
    return;
  }
  // stdin may never end (a terminal): stop sending it once the command has exited.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let exitCode: number | undefined;
  try {
    exitCode = await printExecFrames(c.execTask(o.namespace ?? 'default', ref.name, spec, o.interactive ? ctx.stdin : undefined, stop.signal), ctx);
  } catch (err) {
    if (!ctx.signal.aborted) throw toShoalError(err);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (o.interactive) {
      stop.abort();
      ctx.stdin.destroy();
    }
  }
  if (exitCode !== undefined) ctx.setExitCode(exitCode);
  else if (!ctx.signal.aborted) throw errors.unavailable(`the exec in task ${ref.name} ended without an exit code (its node or the controller went away)`);
}
