/**
 * shoalctl container commands, as docker's: ps, start, stop, restart, kill, pause, unpause, rm,
 * wait, logs, stats (run, create and exec: run.ts; inspect: images.ts). They talk to the engine
 * API through EngineClient; `logs service/NAME|task/NAME` goes through the controller
 * (remote.ts).
 */
import type { Command } from 'commander';
import { errors, type ContainerStats, type PublishedPort } from '../../api/index.js';
import type { EngineClient } from '../../client/index.js';
import { withEngine } from '../clients.js';
import type { CtlContext } from '../context.js';
import { humanAge, humanSize, parseOutputFormat, printJson, printTable, shortId } from '../format.js';
import { parseTail } from '../options.js';
import { eachReported, writeLogEntries } from '../output.js';
import { parseRemoteRef, remoteLogs, type RemoteLogsOptions } from './remote.js';

/** Docker's PORTS column: `0.0.0.0:8080->80/tcp`. */
function formatPorts(ports: PublishedPort[]): string {
  return ports.map((p) => (p.PublicPort ? `${p.IP || '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)).join(', ');
}

function quoteCommand(c: string): string {
  const t = c.length > 20 ? `${c.slice(0, 19)}…` : c;
  return `"${t}"`;
}

function cpuPercent(a: ContainerStats, b: ContainerStats): number {
  const dt = (new Date(b.read).getTime() - new Date(a.read).getTime()) * 1e6;
  if (dt <= 0) return 0;
  return ((b.cpuUsageNs - a.cpuUsageNs) / dt) * 100;
}

function statsTable(ctx: CtlContext, rows: Array<{ prev: ContainerStats; cur: ContainerStats }>): void {
  printTable(ctx.stdout, rows, [
    { header: 'CONTAINER ID', value: (r) => shortId(r.cur.id) },
    { header: 'NAME', value: (r) => r.cur.name.replace(/^\//, '') },
    { header: 'CPU %', value: (r) => `${cpuPercent(r.prev, r.cur).toFixed(2)}%` },
    { header: 'MEM USAGE / LIMIT', value: (r) => `${humanSize(r.cur.memoryBytes)} / ${r.cur.memoryLimit ? humanSize(r.cur.memoryLimit) : 'unlimited'}` },
    { header: 'MEM %', value: (r) => (r.cur.memoryLimit ? `${((r.cur.memoryBytes / r.cur.memoryLimit) * 100).toFixed(2)}%` : '-') },
    { header: 'PIDS', value: (r) => String(r.cur.pids) },
  ]);
}

function registerPs(program: Command, ctx: CtlContext): void {
  program
    .command('ps')
    .description('List containers')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container ids')
    .option('-o, --output <format>', 'table or json')
    .action(async (o: { all?: boolean; quiet?: boolean; output?: string }, cmd: Command) => {
      const fmt = parseOutputFormat(o.output, ['table', 'json']);
      const list = await withEngine(cmd, ctx, (c) => c.listContainers(o.all === true, ctx.signal));
      if (o.quiet) {
        for (const s of list) ctx.stdout.write(`${shortId(s.Id)}\n`);
      } else if (fmt === 'json') {
        printJson(ctx.stdout, list);
      } else {
        const now = new Date();
        printTable(ctx.stdout, list, [
          { header: 'CONTAINER ID', value: (s) => shortId(s.Id) },
          { header: 'IMAGE', value: (s) => s.Image },
          { header: 'COMMAND', value: (s) => quoteCommand(s.Command) },
          { header: 'CREATED', value: (s) => humanAge(new Date(s.Created * 1000).toISOString(), now) },
          { header: 'STATUS', value: (s) => s.Status },
          { header: 'PORTS', value: (s) => formatPorts(s.Ports ?? []) },
          { header: 'NAMES', value: (s) => s.Names.map((n) => n.replace(/^\//, '')).join(',') },
        ]);
      }
    });
}

/** Runs `fn` on each named container, docker style: the name is echoed on success (unless `echo` is false). */
async function forEachContainer(cmd: Command, ctx: CtlContext, names: string[], fn: (c: EngineClient, name: string) => Promise<void>, echo = true): Promise<void> {
  await withEngine(cmd, ctx, (c) =>
    eachReported(ctx, names, async (n) => {
      await fn(c, n);
      if (echo) ctx.stdout.write(`${n}\n`);
    }),
  );
}

/** start, stop, restart, kill, pause, unpause, rm and wait: one action on each named container. */
function registerLifecycle(program: Command, ctx: CtlContext): void {
  program
    .command('start')
    .description('Start one or more stopped containers')
    .argument('<container...>')
    .action(async (names: string[], _o, cmd: Command) => forEachContainer(cmd, ctx, names, (c, n) => c.containerAction(n, 'start', {}, ctx.signal)));

  for (const [name, desc] of [
    ['stop', 'Stop one or more running containers (stop signal, then SIGKILL after the timeout)'],
    ['restart', 'Restart one or more containers'],
  ] as const) {
    program
      .command(name)
      .description(desc)
      .option('-t, --time <seconds>', 'seconds to wait before killing the container (default 10)')
      .argument('<container...>')
      .action(async (names: string[], o: { time?: string }, cmd: Command) =>
        forEachContainer(cmd, ctx, names, (c, n) => c.containerAction(n, name, o.time !== undefined ? { timeoutS: o.time } : {}, ctx.signal)),
      );
  }

  program
    .command('kill')
    .description('Kill one or more running containers')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .argument('<container...>')
    .action(async (names: string[], o: { signal: string }, cmd: Command) =>
      forEachContainer(cmd, ctx, names, (c, n) => c.containerAction(n, 'kill', { signalName: o.signal }, ctx.signal)),
    );

  for (const [name, desc] of [
    ['pause', 'Pause all processes within one or more containers'],
    ['unpause', 'Unpause all processes within one or more containers'],
  ] as const) {
    program
      .command(name)
      .description(desc)
      .argument('<container...>')
      .action(async (names: string[], _o, cmd: Command) => forEachContainer(cmd, ctx, names, (c, n) => c.containerAction(n, name, {}, ctx.signal)));
  }

  program
    .command('rm')
    .description('Remove one or more containers')
    .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
    .argument('<container...>')
    .action(async (names: string[], o: { force?: boolean }, cmd: Command) => forEachContainer(cmd, ctx, names, (c, n) => c.removeContainer(n, o.force === true, ctx.signal)));

  program
    .command('wait')
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (names: string[], _o, cmd: Command) =>
      forEachContainer(cmd, ctx, names, async (c, n) => void ctx.stdout.write(`${(await c.waitContainer(n, ctx.signal)).StatusCode}\n`), false),
    );
}

function registerLogs(program: Command, ctx: CtlContext): void {
  program
    .command('logs')
    .description('Fetch the logs of a container, or through the controller of task/NAME or service/NAME (all replicas, prefixed)')
    .option('-f, --follow', 'follow log output')
    .option('-n, --tail <n>', 'number of lines to show from the end of the logs', parseTail, 'all')
    .option('-t, --timestamps', 'show timestamps')
    .option('--since <time>', 'show logs since a timestamp (RFC 3339 or unix seconds)')
    .option('--namespace <ns>', 'namespace of task/NAME or service/NAME (default "default")')
    .argument('<container>')
    .action(async (name: string, o: RemoteLogsOptions, cmd: Command) => {
      const ref = parseRemoteRef(name);
      if (ref) return remoteLogs(ref, o, cmd, ctx);
      if (o.namespace !== undefined) throw errors.invalidArgument('--namespace applies to task/NAME and service/NAME only');
      const query = { follow: o.follow === true, ...(o.tail === 'all' ? {} : { tail: o.tail }), ...(o.since !== undefined ? { since: o.since } : {}) };
      await withEngine(cmd, ctx, (c) => writeLogEntries(c.containerLogs(name, query, ctx.signal), ctx, o.timestamps === true));
    });
}

function registerStats(program: Command, ctx: CtlContext): void {
  program
    .command('stats')
    .description('Display resource usage of containers (all running ones by default)')
    .option('--no-stream', 'print one sample and exit')
    .argument('[container...]')
    .action(async (names: string[], o: { stream: boolean }, cmd: Command) => {
      await withEngine(cmd, ctx, async (c) => {
        const ids = names.length > 0 ? names : (await c.listContainers(false, ctx.signal)).map((s) => s.Id);
        const sample = () => Promise.all(ids.map((id) => c.containerStats(id, ctx.signal)));
        let prev = await sample();
        for (;;) {
          await new Promise((r) => setTimeout(r, o.stream ? 1000 : 500));
          if (ctx.signal.aborted) return;
          const cur = await sample();
          if (o.stream && ctx.stdout.isTTY) ctx.stdout.write('\x1b[2J\x1b[H');
          statsTable(ctx, cur.map((s, i) => ({ prev: prev[i]!, cur: s })));
          if (!o.stream) return;
          prev = cur;
        }
      });
    });
}

/** Registers the container commands of shoalctl (after run, create and exec). */
export function registerContainersCommands(program: Command, ctx: CtlContext): void {
  registerPs(program, ctx);
  registerLifecycle(program, ctx);
  registerLogs(program, ctx);
  registerStats(program, ctx);
}
