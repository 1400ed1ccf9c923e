/**
 * `shoalctl run`, `create`, `exec` and `attach`, as docker's, on the engine API through
 * EngineClient (their options: docker-options.ts). `run` without -d prints the container's
 * output and exits with its exit code; with -i it streams our stdin in; with -t it is a
 * terminal session (../terminal.ts): attach, then start, so nothing is missed. `exec task/NAME`
 * goes through the controller (remote.ts).
 */
import type { Command } from 'commander';
import { errors, isShoalError, type ContainerCreateRequest } from '../../api/index.js';
import { asReadable, isPullResult, type EngineClient, type PullEvent } from '../../client/index.js';
import { engineClient, withEngine } from '../clients.js';
import type { CtlContext } from '../context.js';
import { printExecFrames, writeLogEntries } from '../output.js';
import { containerCreateRequest, declareExecOptions, declareRunOptions, execSpec, type ExecOptions, type RunOptions } from './docker-options.js';
import { parseRemoteRef, remoteExec } from './remote.js';
import { parseDetachKeys, requireTerminalInput, runTerminal, terminalSize, type TerminalOptions } from '../terminal.js';
import { createClusterNetwork, createSecretLike } from './cluster-networks.js';

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

/**
 * Prints the output of a started container until it exits; the exit code becomes ours. With -i,
 * our stdin goes in meanwhile. `fromNow` skips what it wrote before (`attach`).
 */
async function attach(c: EngineClient, id: string, interactive: boolean, cmd: Command, ctx: CtlContext, fromNow = false): Promise<void> {
  const since = fromNow ? new Date().toISOString() : undefined;
  let sending: Promise<unknown> | undefined;
  let stdinClient: EngineClient | undefined;
  const stopSending = new AbortController();
  if (interactive) {
    stdinClient = engineClient(cmd, ctx);
    sending = stdinClient.attachStdin(id, asReadable(ctx.stdin), stopSending.signal).catch(() => undefined);
  }
  try {
    // From now: by the time (not the moment) the request starts, so what our input already
    // caused is not skipped (the engine is on this machine: one clock).
    await writeLogEntries(c.containerLogs(id, { follow: true, ...(since ? { since } : {}) }, ctx.signal), ctx, false);
    const { StatusCode } = await c.waitContainer(id, ctx.signal);
    ctx.setExitCode(StatusCode);
  } finally {
    if (stdinClient) {
      // stdin may never end (a terminal): stop sending once the container has exited.
      stopSending.abort();
      await sending;
      await stdinClient.close();
      ctx.stdin.destroy();
    }
  }
}

/** `run` (create, start, attach unless -d) or `create` (create only, print the id). */
async function runCommand(image: string | undefined, args: string[], o: RunOptions, cmd: Command, ctx: CtlContext, createOnly: boolean): Promise<void> {
  // `create network NAME`: a cluster Network, not a container of an image named "network".
  if (createOnly && image === 'network') return createClusterNetwork(args, cmd, ctx);
  if (createOnly && (image === 'secret' || image === 'config')) return createSecretLike(image, args, cmd, ctx);
  const body = containerCreateRequest(o, image, args, ctx);
  const detach = createOnly || o.detach === true;
  const size = o.tty ? terminalSize(ctx) : undefined;
  if (size) body.consoleSize = [size.rows, size.cols];
  if (!detach) requireTerminalInput(ctx, o.interactive === true, o.tty === true);
  const detachKeys = parseDetachKeys(o.detachKeys);
  // A terminal session may be detached from: the container then lives on, and is removed
  // when it exits (docker's --rm).
  if (o.rm && (detach || o.tty)) body.autoRemove = true;
  await withEngine(cmd, ctx, async (c) => {
    const id = await createContainer(c, ctx, body);
    if (createOnly) {
      ctx.stdout.write(`${id}\n`);
      return;
    }
    if (o.tty && !detach) {
      try {
        return await runTerminalContainer(c, id, { interactive: o.interactive === true, detachKeys }, ctx);
      } catch (err) {
        // Never started (or the start failed): --rm still means gone.
        const status = o.rm ? await c.inspectContainer(id).then((i) => i.State.Status, () => undefined) : undefined;
        if (status === 'created') await c.removeContainer(id, true).catch(() => undefined);
        throw err;
      }
    }
    try {
      await c.containerAction(id, 'start', {}, ctx.signal);
    } catch (err) {
      if (o.rm) await c.removeContainer(id, true).catch(() => undefined);
      throw err;
    }
    if (detach) {
      ctx.stdout.write(`${id}\n`);
      return;
    }
    try {
      await attach(c, id, o.interactive === true, cmd, ctx);
    } finally {
      if (o.rm) await c.removeContainer(id, true).catch(() => undefined);
    }
  });
}

/** `run -t` attached: attach (the engine registers us), start, then the session; the exit code becomes ours. */
async function runTerminalContainer(c: EngineClient, id: string, o: TerminalOptions, ctx: CtlContext): Promise<void> {
  const res = await runTerminal(ctx, o, (input, signal) => c.attachTerminal(id, input, signal), () => c.containerAction(id, 'start', {}, ctx.signal));
  if (res.exitCode !== undefined) ctx.setExitCode(res.exitCode);
  else if (!res.detached && !ctx.signal.aborted) throw errors.unavailable(`the terminal of container ${id.slice(0, 12)} ended without an exit code (did the agent stop?)`);
}

/** `attach CONTAINER`: its terminal (a `-t` container), else its output from now and, if it has an open stdin, our input. */
async function attachCommand(name: string, o: { stdin: boolean; detachKeys?: string }, cmd: Command, ctx: CtlContext): Promise<void> {
  const detachKeys = parseDetachKeys(o.detachKeys);
  await withEngine(cmd, ctx, async (c) => {
    const info = await c.inspectContainer(name, ctx.signal);
    if (!info.State.Running) throw errors.failedPrecondition(`container ${name} is not running: start it first`);
    const interactive = o.stdin && info.Config.OpenStdin;
    if (!info.Config.Tty) return attach(c, info.Id, interactive, cmd, ctx, true);
    requireTerminalInput(ctx, interactive, true);
    const res = await runTerminal(ctx, { interactive, detachKeys }, (input, signal) => c.attachTerminal(info.Id, input, signal));
    if (res.exitCode !== undefined) ctx.setExitCode(res.exitCode);
  });
}

async function execCommand(container: string | undefined, args: string[], o: ExecOptions, cmd: Command, ctx: CtlContext): Promise<void> {
  const { target, spec } = execSpec(o, container, args, ctx.env);
  const size = o.tty ? terminalSize(ctx) : undefined;
  if (size) spec.consoleSize = [size.rows, size.cols];
  requireTerminalInput(ctx, o.interactive === true, o.tty === true);
  const terminal = o.tty ? { interactive: o.interactive === true, detachKeys: parseDetachKeys(o.detachKeys) } : undefined;
  const ref = parseRemoteRef(target);
  if (ref) {
    return remoteExec(ref, spec, { interactive: o.interactive === true, ...(terminal ? { terminal } : {}), ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) }, cmd, ctx);
  }
  if (o.namespace !== undefined) throw errors.invalidArgument('--namespace applies to task/NAME only');
  if (terminal) {
    // The body carries the window sizes even without -i, so it is always the frame stream.
    const res = await withEngine(cmd, ctx, (c) => runTerminal(ctx, terminal, (input, signal) => Promise.resolve(c.exec(target, spec, input, signal))));
    if (res.exitCode !== undefined) ctx.setExitCode(res.exitCode);
    return;
  }
  await withEngine(cmd, ctx, async (c) => {
    const exitCode = await printExecFrames(c.exec(target, spec, o.interactive ? asReadable(ctx.stdin) : undefined, ctx.signal), ctx);
    if (exitCode !== undefined) ctx.setExitCode(exitCode);
  });
}

export function registerRunCommands(program: Command, ctx: CtlContext): void {
  declareRunOptions(program.command('run'))
    .description('Create and start a container, print its output and exit with its exit code')
    .action(async (image: string | undefined, args: string[], o: RunOptions, cmd: Command) => runCommand(image, args, o, cmd, ctx, false));

  declareRunOptions(program.command('create'))
    .description('Create a container (prints its id), or a cluster network: create network NAME')
    .action(async (image: string | undefined, args: string[], o: RunOptions, cmd: Command) => runCommand(image, args, o, cmd, ctx, true));

  declareExecOptions(program.command('exec'))
    .description('Run a command in a running container (or task/NAME); exits with its exit code')
    .action(async (container: string | undefined, args: string[], o: ExecOptions, cmd: Command) => execCommand(container, args, o, cmd, ctx));

  program
    .command('attach')
    .description("Attach to a running container: its terminal (created with -t; Ctrl-P Ctrl-Q detaches), else its output and stdin; exits with its exit code")
    .option('--detach-keys <keys>', 'keys that detach (default ctrl-p,ctrl-q)')
    .option('--no-stdin', 'do not send our input')
    .argument('<container>')
    .action(async (name: string, o: { stdin: boolean; detachKeys?: string }, cmd: Command) => attachCommand(name, o, cmd, ctx));
}
