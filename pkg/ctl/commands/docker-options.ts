/**
 * The docker-style options of `run`, `create` and `exec`, declared with commander, and their
 * translation into engine requests. Options end at the first positional (commander's
 * passThroughOptions; the program has enablePositionalOptions): everything after the image or
 * container is the command, verbatim, so `run IMG sh -c 'echo hi'` keeps its `-c`; `--` ends
 * the options early. `run` and `create` take docker's short forms, `-c` (--cpu-shares) and
 * `-h` (--hostname) included, so their help is `--help` alone.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { Command } from 'commander';
import { errors, type ContainerCreateRequest, type ExecSpec } from '../../api/index.js';
import type { CtlContext } from '../context.js';
import { collect } from '../options.js';

/** What commander makes of the options of `run` and `create`. */
export interface RunOptions {
  detach?: boolean;
  rm?: boolean;
  interactive?: boolean;
  /** A terminal for the process (`-t`): a pty of the container, this terminal raw while attached. */
  tty?: boolean;
  detachKeys?: string;
  init?: boolean;
  name?: string;
  env?: string[];
  envFile?: string[];
  memory?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
  user?: string;
  workdir?: string;
  entrypoint?: string;
  volume?: string[];
  network?: string;
  hostname?: string;
  label?: string[];
  stopSignal?: string;
  stopTimeout?: string;
  publish?: string[];
  networkAlias?: string[];
}

/** What commander makes of the options of `exec`. */
export interface ExecOptions {
  interactive?: boolean;
  /** A terminal for the command (`-t`). */
  tty?: boolean;
  detachKeys?: string;
  /** Accepted as docker users type it; the command always runs attached. */
  detach?: boolean;
  env?: string[];
  user?: string;
  workdir?: string;
  namespace?: string;
}

/** Declares the arguments and options of `run` or `create` on `cmd`. */
export function declareRunOptions(cmd: Command): Command {
  return cmd
    .usage('[OPTIONS] IMAGE [COMMAND] [ARG...]')
    .argument('[image]', 'the image (pulled when the engine does not have it)')
    .argument('[cmd...]', "the command and its arguments, verbatim (default: the image's)")
    .helpOption('--help', 'display help for command')
    .passThroughOptions()
    .option('-d, --detach', 'run in the background and print the container id')
    .option('--rm', 'remove the container when it exits')
    .option('-i, --interactive', 'send our stdin to the container')
    .option('-t, --tty', 'give the process a terminal (attached: ours, raw; Ctrl-P Ctrl-Q detaches)')
    .option('--detach-keys <keys>', 'keys that detach from the terminal (default ctrl-p,ctrl-q)')
    .option('--init', 'run an init as PID 1 that forwards signals and reaps zombies')
    .option('--name <name>', 'container name')
    .option('-e, --env <K=V>', 'environment variable; K alone takes its value from our environment (repeatable)', collect)
    .option('--env-file <file>', 'read environment variables from a file, one K=V a line (repeatable)', collect)
    .option('-m, --memory <size>', 'memory limit, e.g. 64m')
    .option('--cpus <n>', 'CPU limit, e.g. 0.5')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--pids-limit <n>', 'process limit (-1: unlimited)')
    .option('-u, --user <user>', 'user[:group] to run as')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('--entrypoint <cmd>', 'override the image entrypoint ("" for none)')
    .option('-v, --volume <bind>', 'bind mount SRC:DST or SRC:DST:ro (repeatable)', collect)
    .option('--net, --network <mode>', 'bridge (default), none, host or the name of a network')
    .option('-h, --hostname <name>', 'host name of the container')
    .option('-l, --label <K=V>', 'label (repeatable)', collect)
    .option('--stop-signal <signal>', 'signal that stops the container (default SIGTERM)')
    .option('--stop-timeout <seconds>', 'seconds between the stop signal and SIGKILL')
    .option('-p, --publish <ports>', 'publish a port: [IP:]HOST:CONTAINER[/PROTO] (repeatable)', collect)
    .option('--network-alias <name>', 'another DNS name of the container on its network (repeatable)', collect);
}

/** Declares the arguments and options of `exec` on `cmd`. */
export function declareExecOptions(cmd: Command): Command {
  return cmd
    .usage('[OPTIONS] CONTAINER COMMAND [ARG...]')
    .argument('[container]', 'container name or id, or task/NAME (through the controller)')
    .argument('[cmd...]', 'the command and its arguments, verbatim')
    .passThroughOptions()
    .option('-i, --interactive', 'send our stdin to the command')
    .option('-t, --tty', 'run the command on a terminal (ours, raw, while it runs)')
    .option('--detach-keys <keys>', 'keys that end the session (default ctrl-p,ctrl-q)')
    .option('-d, --detach', 'accepted for docker compatibility (the command runs attached)')
    .option('-e, --env <K=V>', 'environment variable; K alone takes its value from our environment (repeatable)', collect)
    .option('-u, --user <user>', 'user[:group] to run as')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('--namespace <ns>', 'namespace of task/NAME (default "default")');
}

function readEnvFile(path: string, cwd: string): string[] {
  let text: string;
  try {
    text = readFileSync(resolvePath(cwd, path), 'utf8');
  } catch (err) {
    throw errors.invalidArgument(`cannot read env file ${path}: ${(err as Error).message}`);
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** `-e KEY` without `=` takes the value from the client's environment, as docker does (and is dropped when unset). */
function envArgs(values: string[] | undefined, env: CtlContext['env']): string[] {
  return (values ?? []).flatMap((e) => (e.includes('=') ? [e] : env[e] !== undefined ? [`${e}=${env[e]}`] : []));
}

function integerOption(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw errors.invalidArgument(`invalid ${flag} ${JSON.stringify(value)}: want an integer`);
  return n;
}

function labelsOf(values: string[]): Record<string, string> {
  return Object.fromEntries(
    values.map((l) => {
      const eq = l.indexOf('=');
      return eq < 0 ? [l, ''] : [l.slice(0, eq), l.slice(eq + 1)];
    }),
  );
}

/** A relative bind source (`./data:/data`) is relative to our working directory. */
function bindOf(v: string, cwd: string): string {
  return v.startsWith('.') ? resolvePath(cwd, v.split(':')[0]!) + v.slice(v.indexOf(':')) : v;
}

/** The engine's create request for `run`/`create` (reads --env-file files; nothing else touches the outside). */
export function containerCreateRequest(o: RunOptions, image: string | undefined, cmd: string[], ctx: Pick<CtlContext, 'env' | 'cwd'>): ContainerCreateRequest {
  if (!image) throw errors.invalidArgument('an image is required: shoalctl run [OPTIONS] IMAGE [COMMAND] [ARG...]');
  const body: ContainerCreateRequest = { image };
  if (cmd.length > 0) body.cmd = cmd;
  const env = [...(o.envFile ?? []).flatMap((f) => readEnvFile(f, ctx.cwd)), ...envArgs(o.env, ctx.env)];
  if (env.length > 0) body.env = env;
  if (o.name !== undefined) body.name = o.name;
  if (o.memory !== undefined) body.memory = o.memory;
  if (o.cpus !== undefined) body.cpus = o.cpus;
  if (o.user !== undefined) body.user = o.user;
  if (o.workdir !== undefined) body.workingDir = o.workdir;
  if (o.network !== undefined) body.networkMode = o.network;
  if (o.publish !== undefined && o.publish.length > 0) body.ports = o.publish;
  if (o.networkAlias !== undefined && o.networkAlias.length > 0) body.networkAliases = o.networkAlias;
  if (o.hostname !== undefined) body.hostname = o.hostname;
  if (o.stopSignal !== undefined) body.stopSignal = o.stopSignal;
  if (o.entrypoint !== undefined) body.entrypoint = o.entrypoint === '' ? [] : [o.entrypoint];
  if (o.pidsLimit !== undefined) {
    const n = integerOption('--pids-limit', o.pidsLimit);
    body.pidsLimit = n < 0 ? 0 : n; // docker: --pids-limit -1 means unlimited
  }
  if (o.cpuShares !== undefined) body.cpuShares = integerOption('--cpu-shares', o.cpuShares);
  if (o.stopTimeout !== undefined) body.stopTimeout = integerOption('--stop-timeout', o.stopTimeout);
  if (o.init) body.init = true;
  if (o.tty) body.tty = true;
  if (o.interactive) {
    body.openStdin = true;
    // Attached `run -i`: the container sees EOF when our stdin ends (Docker's StdinOnce).
    if (!o.detach) body.stdinOnce = true;
  }
  if (o.volume) body.binds = o.volume.map((v) => bindOf(v, ctx.cwd));
  if (o.label) body.labels = labelsOf(o.label);
  return body;
}

/** What `exec CONTAINER COMMAND...` runs, and where (a container, or task/NAME). */
export function execSpec(o: ExecOptions, container: string | undefined, cmd: string[], env: CtlContext['env']): { target: string; spec: ExecSpec } {
  if (!container || cmd.length === 0) throw errors.invalidArgument('usage: shoalctl exec [OPTIONS] CONTAINER COMMAND [ARG...]');
  const spec: ExecSpec = { cmd };
  const e = envArgs(o.env, env);
  if (e.length > 0) spec.env = e;
  if (o.user !== undefined) spec.user = o.user;
  if (o.workdir !== undefined) spec.workdir = o.workdir;
  if (o.tty) spec.tty = true;
  return { target: container, spec };
}
