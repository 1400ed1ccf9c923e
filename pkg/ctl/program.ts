/**
 * The shoalctl command tree. Each group of commands lives in its own file under commands/ and
 * registers itself here; the entry point (cmd/ctl) only builds a context and runs the program.
 *
 * The root's options (-H/--host, --server) come before the sub-command, as docker's do; the
 * program has positional options so that `run`, `create` and `exec` can pass their command
 * through verbatim. Every command also accepts them after its name (`ps --host X`), as most
 * always have.
 */
import { Command, Help, Option } from 'commander';
import { SHOAL_VERSION } from '../api/index.js';
import type { CtlContext } from './context.js';
import { registerImagesCommands } from './commands/images.js';
import { registerRunCommands } from './commands/run.js';
import { registerContainersCommands } from './commands/containers.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerNetworksCommands } from './commands/networks.js';

type Register = (program: Command, ctx: CtlContext) => void;

const groups: Register[] = [registerImagesCommands, registerRunCommands, registerContainersCommands, registerClusterCommands, registerNetworksCommands];

const GLOBAL_OPTIONS: ReadonlyArray<readonly [flags: string, description: string]> = [
  ['-H, --host <url>', 'engine socket (unix://PATH); default $SHOAL_HOST or unix:///run/shoal/agent.sock'],
  ['--server <url>', 'controller URL; default $SHOAL_SERVER or the current context of ~/.shoal/config'],
  ['--config <file>', 'contexts file; default $SHOAL_CONFIG or ~/.shoal/config'],
];

/**
 * Lets every sub-command take the root's options after its name as well (hidden from its help:
 * they are the root's); for `run`, `create` and `exec` that is before the image or container.
 * A sub-command with an option of the same flag (`config set-context --server`) keeps its own.
 */
function acceptGlobalOptions(cmd: Command): void {
  for (const sub of cmd.commands) {
    for (const [flags, description] of GLOBAL_OPTIONS) {
      const opt = new Option(flags, description).hideHelp();
      const taken = sub.options.some((o) => (o.long !== undefined && o.long === opt.long) || (o.short !== undefined && o.short === opt.short));
      if (!taken) sub.addOption(opt);
    }
    acceptGlobalOptions(sub);
  }
}

const defaultSubcommandTerm = Help.prototype.subcommandTerm;

/** A command's line in its parent's listing: `[options]` only when it has visible options of its own. */
function subcommandTerm(this: Help, cmd: Command): string {
  const term = defaultSubcommandTerm.call(this, cmd);
  return cmd.options.every((o) => o.hidden) ? term.replace(' [options]', '') : term;
}

export function buildProgram(ctx: CtlContext): Command {
  const program = new Command('shoalctl')
    .description('Shoal: run containers on a node, and services across a cluster')
    .version(SHOAL_VERSION, '--version')
    .enablePositionalOptions()
    .configureHelp({ subcommandTerm })
    .showHelpAfterError()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride();
  for (const [flags, description] of GLOBAL_OPTIONS) program.option(flags, description);
  for (const g of groups) g(program, ctx);
  acceptGlobalOptions(program);
  return program;
}
