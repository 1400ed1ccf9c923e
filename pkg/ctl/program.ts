/**
 * The shoalctl command tree. Each group of commands lives in its own file under commands/ and
 * registers itself here; the entry point (cmd/ctl) only builds a context and runs the program.
 */
import { Command } from 'commander';
import { SHOAL_VERSION } from '../api/index.js';
import type { CtlContext } from './context.js';
import { registerImagesCommands } from './commands/images.js';
import { registerContainersCommands } from './commands/containers.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerNetworksCommands } from './commands/networks.js';

export type Register = (program: Command, ctx: CtlContext) => void;

const groups: Register[] = [registerImagesCommands, registerContainersCommands, registerClusterCommands, registerNetworksCommands];

export function buildProgram(ctx: CtlContext): Command {
  const program = new Command('shoalctl')
    .description('Shoal: run containers on a node, and services across a cluster')
    .version(SHOAL_VERSION, '--version')
    .option('-H, --host <url>', 'engine socket (unix://PATH); default $SHOAL_HOST or unix:///run/shoal/agent.sock')
    .option('--server <url>', 'controller URL; default $SHOAL_SERVER or the current context of ~/.shoal/config')
    .showHelpAfterError()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride();
  for (const g of groups) g(program, ctx);
  return program;
}
