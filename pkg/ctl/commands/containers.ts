/**
 * shoalctl container commands, as docker's: run, create, ps, start, stop, restart, kill,
 * pause, unpause, rm, logs, exec, inspect, stats, wait. They talk to the engine API
 * (`/v1/containers/...`) through EngineClient.
 *
 * `run` and `exec` parse their own arguments (docker style: options end at the first
 * positional, everything after the image/container is the command), because commander would
 * otherwise take `sh -c ...`'s `-c` for an option.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { Command } from 'commander';
import { ShoalError, isShoalError, type ContainerCreateRequest, type ContainerStats, type ExecSpec, type PublishedPort } from '../../api/index.js';
import type { CtlContext } from '../context.js';
import { asReadable, EngineClient, isPullResult, resolveEngineHost, type PullEvent } from '../../client/index.js';
import { humanAge, humanSize, printJson, printTable, parseOutputFormat } from '../format.js';
import { parseRemoteRef, remoteExec, remoteLogs } from './remote.js';

/** Docker's PORTS column: `0.0.0.0:8080->80/tcp`. */
export function formatPorts(ports: PublishedPort[]): string {
  return ports.map((p) => (p.PublicPort ? `${p.IP || '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)).join(', ');
}

function client(cmd: Command, ctx: CtlContext): EngineClient {
  const host = (cmd.optsWithGlobals() as { host?: string }).host;
  return new EngineClient(resolveEngineHost(host, ctx.env));
}

async function withClient<T>(cmd: Command, ctx: CtlContext, fn: (c: EngineClient) => Promise<T>): Promise<T> {
  const c = client(cmd, ctx);
  try {
    return await fn(c);
  } finally {
    await c.close().catch(() => undefined);
  }
}

const short = (id: string) => id.slice(0, 12);

// ── argument parsing for run/create/exec ───────────────────────────────────────────────────

interface FlagSpec {
  names: string[];
  key: string;
  value: boolean;
  repeat?: boolean;
}

const RUN_FLAGS: FlagSpec[] = [
  { names: ['-d', '--detach'], key: 'detach', value: false },
  { names: ['--rm'], key: 'rm', value: false },
  { names: ['-i', '--interactive'], key: 'interactive', value: false },
  { names: ['-t', '--tty'], key: 'tty', value: false },
  { names: ['--init'], key: 'init', value: false },
  { names: ['--name'], key: 'name', value: true },
  { names: ['-e', '--env'], key: 'env', value: true, repeat: true },
  { names: ['--env-file'], key: 'envFile', value: true, repeat: true },
  { names: ['-m', '--memory'], key: 'memory', value: true },
  { names: ['--cpus'], key: 'cpus', value: true },
  { names: ['--cpu-shares', '-c'], key: 'cpuShares', value: true },
  { names: ['--pids-limit'], key: 'pidsLimit', value: true },
  { names: ['-u', '--user'], key: 'user', value: true },
  { names: ['-w', '--workdir'], key: 'workdir', value: true },
  { names: ['--entrypoint'], key: 'entrypoint', value: true },
  { names: ['-v', '--volume'], key: 'volume', value: true, repeat: true },
  { names: ['--network', '--net'], key: 'network', value: true },
  { names: ['--hostname', '-h'], key: 'hostname', value: true },
  { names: ['-l', '--label'], key: 'label', value: true, repeat: true },
  { names: ['--stop-signal'], key: 'stopSignal', value: true },
  { names: ['--stop-timeout'], key: 'stopTimeout', value: true },
  { names: ['-p', '--publish'], key: 'publish', value: true, repeat: true },
  { names: ['--network-alias'], key: 'networkAlias', value: true, repeat: true },
];

const EXEC_FLAGS: FlagSpec[] = [
  { names: ['-i', '--interactive'], key: 'interactive', value: false },
  { names: ['-t', '--tty'], key: 'tty', value: false },
  { names: ['-d', '--detach'], key: 'detach', value: false },
  { names: ['-e', '--env'], key: 'env', value: true, repeat: true },
  { names: ['-u', '--user'], key: 'user', value: true },
  { names: ['-w', '--workdir'], key: 'workdir', value: true },
  { names: ['--namespace'], key: 'namespace', value: true },
];

type Parsed = { opts: Record<string, string | boolean | string[]>; positionals: string[] };

/** Docker-style: options up to the first positional; the rest are positionals verbatim. */
export function parseDockerArgs(tokens: string[], flags: FlagSpec[]): Parsed {
  const opts: Parsed['opts'] = {};
  let i = 0;
  const set = (f: FlagSpec, v: string | boolean) => {
    if (f.repeat) opts[f.key] = [...((opts[f.key] as string[] | undefined) ?? []), String(v)];
    else opts[f.key] = v;
  };
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '--') {
      i++;
      break;
    }
    if (!t.startsWith('-') || t === '-') break;
    const eq = t.indexOf('=');
    const name = t.startsWith('--') && eq > 0 ? t.slice(0, eq) : t;
    const f = flags.find((x) => x.names.includes(name));
    if (f) {
      if (!f.value) set(f, true);
      else if (t.startsWith('--') && eq > 0) set(f, t.slice(eq + 1));
      else {
        const v = tokens[++i];
        if (v === undefined) throw new ShoalError('InvalidArgument', `flag needs an argument: ${name}`);
        set(f, v);
      }
      continue;
    }
    // combined short booleans: -it, -di
    if (/^-[a-zA-Z]{2,}$/.test(t)) {
      const letters = [...t.slice(1)].map((ch) => flags.find((x) => x.names.includes(`-${ch}`)));
      if (letters.every((x) => x && !x.value)) {
        for (const x of letters) set(x!, true);
        continue;
      }
    }
    throw new ShoalError('InvalidArgument', `unknown flag: ${t}`);
  }
  return { opts, positionals: tokens.slice(i) };
}

/** The tokens after the sub-command `name` in the raw argv (skipping root options). */
function tokensAfter(program: Command, name: string): string[] {
  const raw = (program as unknown as { rawArgs: string[] }).rawArgs.slice(2);
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i]!;
    if (t === '-H' || t === '--host' || t === '--server') {
      i++;
      continue;
    }
    if (t.startsWith('-')) continue;
    if (t === name) return raw.slice(i + 1);
    break;
  }
  return [];
}

function readEnvFile(path: string, cwd: string): string[] {
  let text: string;
  try {
    text = readFileSync(resolvePath(cwd, path), 'utf8');
  } catch (err) {
    throw new ShoalError('InvalidArgument', `cannot read env file ${path}: ${(err as Error).message}`);
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function envArgs(values: string[] | undefined, env: CtlContext['env']): string[] {
  // `-e KEY` without `=` takes the value from the client's environment, as docker does.
  return (values ?? []).flatMap((e) => (e.includes('=') ? [e] : env[e] !== undefined ? [`${e}=${env[e]}`] : []));
}

function createBody(p: Parsed, ctx: CtlContext): ContainerCreateRequest {
  const o = p.opts;
  const [image, ...cmd] = p.positionals;
  if (!image) throw new ShoalError('InvalidArgument', 'an image is required: shoalctl run [OPTIONS] IMAGE [COMMAND] [ARG...]');
  const env = [...((o['envFile'] as string[] | undefined) ?? []).flatMap((f) => readEnvFile(f, ctx.cwd)), ...envArgs(o['env'] as string[] | undefined, ctx.env)];
  const body: ContainerCreateRequest = { image };
  if (cmd.length > 0) body.cmd = cmd;
  if (env.length > 0) body.env = env;
  const str = (k: string, field: 'name' | 'memory' | 'cpus' | 'user' | 'workingDir' | 'networkMode' | 'hostname' | 'stopSignal') => {
    const v = o[k];
    if (typeof v === 'string') body[field] = v;
  };
  str('name', 'name');
  str('memory', 'memory');
  str('cpus', 'cpus');
  str('user', 'user');
  str('workdir', 'workingDir');
  str('network', 'networkMode');
  if (Array.isArray(o['publish']) && o['publish'].length > 0) body.ports = o['publish'];
  if (Array.isArray(o['networkAlias']) && o['networkAlias'].length > 0) body.networkAliases = o['networkAlias'];
  str('hostname', 'hostname');
  str('stopSignal', 'stopSignal');
  if (typeof o['entrypoint'] === 'string') body.entrypoint = o['entrypoint'] === '' ? [] : [o['entrypoint']];
  for (const [k, field] of [
    ['pidsLimit', 'pidsLimit'],
    ['cpuShares', 'cpuShares'],
    ['stopTimeout', 'stopTimeout'],
  ] as const) {
    if (typeof o[k] !== 'string') continue;
    const n = Number(o[k]);
    if (!Number.isInteger(n)) throw new ShoalError('InvalidArgument', `invalid --${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${JSON.stringify(o[k])}: want an integer`);
    // docker: --pids-limit -1 means unlimited
    body[field] = k === 'pidsLimit' && n < 0 ? 0 : n;
  }
  if (o['init']) body.init = true;
  if (o['interactive']) {
    body.openStdin = true;
    // Attached `run -i`: the container sees EOF when our stdin ends (Docker's StdinOnce).
    if (!o['detach']) body.stdinOnce = true;
  }
  if (o['volume']) body.binds = (o['volume'] as string[]).map((v) => (v.startsWith('.') ? resolvePath(ctx.cwd, v.split(':')[0]!) + v.slice(v.indexOf(':')) : v));
  if (o['label']) {
    body.labels = Object.fromEntries(
      (o['label'] as string[]).map((l) => {
        const eq = l.indexOf('=');
        return eq < 0 ? [l, ''] : [l.slice(0, eq), l.slice(eq + 1)];
      }),
    );
  }
  return body;
}

async function pull(c: EngineClient, ctx: CtlContext, ref: string): Promise<void> {
  ctx.stderr.write(`Unable to find image '${ref}' locally\n`);
  let last: PullEvent | undefined;
  for await (const ev of c.pullImage(ref, ctx.signal)) last = ev;
  if (last !== undefined && isPullResult(last)) ctx.stderr.write(`Digest: ${last.digest}\n`);
}

/** Creates the container, pulling the image first when the engine does not have it. */
async function createContainer(c: EngineClient, ctx: CtlContext, body: ContainerCreateRequest): Promise<string> {
  const post = () => c.createContainer(body, ctx.signal);
  let res;
  try {
    res = await post();
  } catch (err) {
    if (!isShoalError(err, 'NotFound') || !/image/i.test(err.message)) throw err;
    await pull(c, ctx, body.image);
    res = await post();
  }
  for (const w of res.Warnings ?? []) ctx.stderr.write(`WARNING: ${w}\n`);
  return res.Id;
}

async function streamLogs(
  c: EngineClient,
  ctx: CtlContext,
  id: string,
  query: { follow?: boolean; tail?: string; since?: string },
  timestamps: boolean,
): Promise<void> {
  for await (const e of c.containerLogs(id, query, ctx.signal)) {
    const text = timestamps ? `${e.time} ${e.log}` : e.log;
    (e.stream === 'stderr' ? ctx.stderr : ctx.stdout).write(text);
  }
}

async function runCommand(program: Command, cmd: Command, ctx: CtlContext, detachDefault: boolean): Promise<void> {
  const p = parseDockerArgs(tokensAfter(program, detachDefault ? 'create' : 'run'), RUN_FLAGS);
  const body = createBody(p, ctx);
  const detach = detachDefault || p.opts['detach'] === true;
  if (p.opts['rm'] && detach) body.autoRemove = true;
  await withClient(cmd, ctx, async (c) => {
    const id = await createContainer(c, ctx, body);
    if (detachDefault) {
      ctx.stdout.write(`${id}\n`);
      return;
    }
    try {
      await c.containerAction(id, 'start', {}, ctx.signal);
    } catch (err) {
      if (p.opts['rm']) await c.removeContainer(id, true).catch(() => undefined);
      throw err;
    }
    if (detach) {
      ctx.stdout.write(`${id}\n`);
      return;
    }
    let attach: Promise<unknown> | undefined;
    let stdinClient: EngineClient | undefined;
    const stopAttach = new AbortController();
    if (p.opts['interactive']) {
      stdinClient = client(cmd, ctx);
      attach = stdinClient.attachStdin(id, asReadable(ctx.stdin), stopAttach.signal).catch(() => undefined);
    }
    try {
      await streamLogs(c, ctx, id, { follow: true }, false);
      const { StatusCode } = await c.waitContainer(id, ctx.signal);
      ctx.setExitCode(StatusCode);
    } finally {
      if (stdinClient) {
        // stdin may never end (a terminal): stop sending once the container has exited.
        stopAttach.abort();
        await attach;
        await stdinClient.close().catch(() => undefined);
        ctx.stdin.destroy();
      }
      if (p.opts['rm']) await c.removeContainer(id, true).catch(() => undefined);
    }
  });
}

async function execCommand(program: Command, cmd: Command, ctx: CtlContext): Promise<void> {
  const p = parseDockerArgs(tokensAfter(program, 'exec'), EXEC_FLAGS);
  const [container, ...args] = p.positionals;
  if (!container || args.length === 0) throw new ShoalError('InvalidArgument', 'usage: shoalctl exec [OPTIONS] CONTAINER COMMAND [ARG...]');
  const spec: ExecSpec = { cmd: args };
  const env = envArgs(p.opts['env'] as string[] | undefined, ctx.env);
  if (env.length) spec.env = env;
  if (typeof p.opts['user'] === 'string') spec.user = p.opts['user'];
  if (typeof p.opts['workdir'] === 'string') spec.workdir = p.opts['workdir'];
  const ref = parseRemoteRef(container);
  const namespace = typeof p.opts['namespace'] === 'string' ? p.opts['namespace'] : undefined;
  if (ref) return remoteExec(ref, spec, { interactive: p.opts['interactive'] === true, ...(namespace ? { namespace } : {}) }, cmd, ctx);
  if (namespace !== undefined) throw new ShoalError('InvalidArgument', '--namespace applies to task/NAME only');
  await withClient(cmd, ctx, async (c) => {
    const events = c.exec(container, spec, p.opts['interactive'] ? asReadable(ctx.stdin) : undefined, ctx.signal);
    for await (const e of events) {
      if (e.data !== undefined) (e.stream === 'stderr' ? ctx.stderr : ctx.stdout).write(Buffer.from(e.data, 'base64'));
      if (typeof e.exitCode === 'number') ctx.setExitCode(e.exitCode);
    }
  });
}

/** Runs `fn` for each container, docker style: echo the name on success, report each failure, exit 1 if any failed. */
async function forEach(cmd: Command, ctx: CtlContext, names: string[], fn: (c: EngineClient, name: string) => Promise<void>, echo = true): Promise<void> {
  await withClient(cmd, ctx, async (c) => {
    let failed = false;
    for (const n of names) {
      try {
        await fn(c, n);
        if (echo) ctx.stdout.write(`${n}\n`);
      } catch (err) {
        failed = true;
        const e = err as ShoalError;
        ctx.stderr.write(`error: ${e.code ?? 'Internal'}: ${e.message}\n`);
      }
    }
    if (failed) ctx.setExitCode(1);
  });
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
    { header: 'CONTAINER ID', value: (r) => short(r.cur.id) },
    { header: 'NAME', value: (r) => r.cur.name.replace(/^\//, '') },
    { header: 'CPU %', value: (r) => `${cpuPercent(r.prev, r.cur).toFixed(2)}%` },
    { header: 'MEM USAGE / LIMIT', value: (r) => `${humanSize(r.cur.memoryBytes)} / ${r.cur.memoryLimit ? humanSize(r.cur.memoryLimit) : 'unlimited'}` },
    { header: 'MEM %', value: (r) => (r.cur.memoryLimit ? `${((r.cur.memoryBytes / r.cur.memoryLimit) * 100).toFixed(2)}%` : '-') },
    { header: 'PIDS', value: (r) => String(r.cur.pids) },
  ]);
}

/** Registers the containers commands of shoalctl. */
export function registerContainersCommands(program: Command, ctx: CtlContext): void {
  const runHelp = 'Options: -d, --rm, -i, --name, -e K=V, --env-file F, --memory 64m, --cpus 0.5, --pids-limit N, --user U, --workdir D, --entrypoint E, --init, -v SRC:DST[:ro], --network none|host|bridge|NAME, -p [ip:]host:container[/proto], --network-alias A, --hostname, -l K=V, --stop-signal, --stop-timeout';
  program
    .command('run')
    .description(`Create and start a container, print its output and exit with its exit code. ${runHelp}`)
    .usage('[OPTIONS] IMAGE [COMMAND] [ARG...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_o, cmd: Command) => runCommand(program, cmd, ctx, false));

  program
    .command('create')
    .description(`Create a container (prints its id). ${runHelp}`)
    .usage('[OPTIONS] IMAGE [COMMAND] [ARG...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_o, cmd: Command) => runCommand(program, cmd, ctx, true));

  program
    .command('exec')
    .description('Run a command in a running container; exits with its exit code. Options: -i, -e K=V, -u USER, -w DIR')
    .usage('[OPTIONS] CONTAINER COMMAND [ARG...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_o, cmd: Command) => execCommand(program, cmd, ctx));

  program
    .command('ps')
    .description('List containers')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container ids')
    .option('-o, --output <format>', 'table or json')
    .action(async (o: { all?: boolean; quiet?: boolean; output?: string }, cmd: Command) => {
      const fmt = parseOutputFormat(o.output, ['table', 'json']);
      await withClient(cmd, ctx, async (c) => {
        const list = await c.listContainers(o.all === true, ctx.signal);
        if (o.quiet) {
          for (const s of list) ctx.stdout.write(`${short(s.Id)}\n`);
        } else if (fmt === 'json') {
          printJson(ctx.stdout, list);
        } else {
          const now = new Date();
          printTable(ctx.stdout, list, [
            { header: 'CONTAINER ID', value: (s) => short(s.Id) },
            { header: 'IMAGE', value: (s) => s.Image },
            { header: 'COMMAND', value: (s) => quoteCommand(s.Command) },
            { header: 'CREATED', value: (s) => humanAge(new Date(s.Created * 1000).toISOString(), now) },
            { header: 'STATUS', value: (s) => s.Status },
            { header: 'PORTS', value: (s) => formatPorts(s.Ports ?? []) },
            { header: 'NAMES', value: (s) => s.Names.map((n) => n.replace(/^\//, '')).join(',') },
          ]);
        }
      });
    });

  program
    .command('start')
    .description('Start one or more stopped containers')
    .argument('<container...>')
    .action(async (names: string[], _o, cmd: Command) =>
      forEach(cmd, ctx, names, (c, n) => c.containerAction(n, 'start', {}, ctx.signal)),
    );

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
        forEach(cmd, ctx, names, (c, n) => c.containerAction(n, name, o.time !== undefined ? { timeoutS: o.time } : {}, ctx.signal)),
      );
  }

  program
    .command('kill')
    .description('Kill one or more running containers')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .argument('<container...>')
    .action(async (names: string[], o: { signal: string }, cmd: Command) =>
      forEach(cmd, ctx, names, (c, n) => c.containerAction(n, 'kill', { signalName: o.signal }, ctx.signal)),
    );

  for (const name of ['pause', 'unpause'] as const) {
    program
      .command(name)
      .description(name === 'pause' ? 'Pause all processes within one or more containers' : 'Unpause all processes within one or more containers')
      .argument('<container...>')
      .action(async (names: string[], _o, cmd: Command) =>
        forEach(cmd, ctx, names, (c, n) => c.containerAction(n, name, {}, ctx.signal)),
      );
  }

  program
    .command('rm')
    .description('Remove one or more containers')
    .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
    .argument('<container...>')
    .action(async (names: string[], o: { force?: boolean }, cmd: Command) =>
      forEach(cmd, ctx, names, (c, n) => c.removeContainer(n, o.force === true, ctx.signal)),
    );

  program
    .command('wait')
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (names: string[], _o, cmd: Command) =>
      forEach(
        cmd,
        ctx,
        names,
        async (c, n) => {
          const r = await c.waitContainer(n, ctx.signal);
          ctx.stdout.write(`${r.StatusCode}\n`);
        },
        false,
      ),
    );

  program
    .command('logs')
    .description('Fetch the logs of a container, or through the controller of task/NAME or service/NAME (all replicas, prefixed)')
    .option('-f, --follow', 'follow log output')
    .option('-n, --tail <n>', 'number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .option('--since <time>', 'show logs since a timestamp (RFC 3339 or unix seconds)')
    .option('--namespace <ns>', 'namespace of task/NAME or service/NAME (default "default")')
    .argument('<container>')
    .action(async (name: string, o: { follow?: boolean; tail: string; timestamps?: boolean; since?: string; namespace?: string }, cmd: Command) => {
      const ref = parseRemoteRef(name);
      if (ref) return remoteLogs(ref, o, cmd, ctx);
      if (o.namespace !== undefined) throw new ShoalError('InvalidArgument', '--namespace applies to task/NAME and service/NAME only');
      if (o.tail !== 'all' && !/^\d+$/.test(o.tail)) throw new ShoalError('InvalidArgument', `invalid --tail ${JSON.stringify(o.tail)}: want a number or all`);
      await withClient(cmd, ctx, (c) =>
        streamLogs(c, ctx, name, { follow: o.follow === true, ...(o.tail === 'all' ? {} : { tail: o.tail }), ...(o.since !== undefined ? { since: o.since } : {}) }, !!o.timestamps),
      );
    });

  if (!program.commands.some((c) => c.name() === 'inspect')) {
    program
      .command('inspect')
      .description('Display detailed information on containers (or images, when no container has that name)')
      .argument('<name...>')
      .action(async (names: string[], _o, cmd: Command) => {
        await withClient(cmd, ctx, async (c) => {
          const out: unknown[] = [];
          let failed = false;
          for (const n of names) {
            try {
              out.push(await c.inspectContainer(n, ctx.signal));
            } catch (err) {
              if (!isShoalError(err, 'NotFound')) throw err;
              try {
                out.push(await c.inspectImage(n, ctx.signal));
              } catch (err2) {
                if (!isShoalError(err2, 'NotFound')) throw err2;
                ctx.stderr.write(`error: NotFound: no such object: ${n}\n`);
                failed = true;
              }
            }
          }
          printJson(ctx.stdout, out);
          if (failed) ctx.setExitCode(1);
        });
      });
  }

  program
    .command('stats')
    .description('Display resource usage of containers (all running ones by default)')
    .option('--no-stream', 'print one sample and exit')
    .argument('[container...]')
    .action(async (names: string[], o: { stream: boolean }, cmd: Command) => {
      await withClient(cmd, ctx, async (c) => {
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
