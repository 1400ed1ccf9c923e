/**
 * `shoalctl config set-context|use-context|get-contexts|view`: the contexts file
 * (~/.shoal/config, config.ts) that picks the controller when neither --server nor
 * $SHOAL_SERVER does.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { errors } from '../../api/index.js';
import { globalOptions } from '../clients.js';
import { loadConfig, normalizeServer, saveConfig } from '../config.js';
import type { CtlContext } from '../context.js';
import { formatTable } from '../format.js';

async function setContext(name: string, cmd: Command, ctx: CtlContext): Promise<void> {
  // --server is also a global option; whichever level commander gave it to, it is the context's server.
  const given = globalOptions(cmd).server;
  if (given === undefined) throw errors.invalidArgument('set-context needs --server URL');
  const server = normalizeServer(given);
  const cfg = await loadConfig(ctx.home);
  const existing = cfg.contexts.find((c) => c.name === name);
  if (existing) existing.server = server;
  else cfg.contexts.push({ name, server });
  if (cfg.currentContext === undefined) cfg.currentContext = name;
  await saveConfig(ctx.home, cfg);
  ctx.stdout.write(`context "${name}" ${existing ? 'modified' : 'created'}\n`);
}

async function useContext(name: string, ctx: CtlContext): Promise<void> {
  const cfg = await loadConfig(ctx.home);
  if (!cfg.contexts.some((c) => c.name === name)) throw errors.notFound(`no context named "${name}" in ~/.shoal/config`);
  cfg.currentContext = name;
  await saveConfig(ctx.home, cfg);
  ctx.stdout.write(`switched to context "${name}"\n`);
}

async function getContexts(ctx: CtlContext): Promise<void> {
  const cfg = await loadConfig(ctx.home);
  ctx.stdout.write(formatTable(cfg.contexts, [
    { header: 'CURRENT', value: (c) => (c.name === cfg.currentContext ? '*' : '') },
    { header: 'NAME', value: (c) => c.name },
    { header: 'SERVER', value: (c) => c.server },
  ]));
}

export function registerContextsCommands(program: Command, ctx: CtlContext): void {
  const config = program.command('config').description('Manage controller contexts in ~/.shoal/config');
  config
    .command('set-context')
    .description('Create or update a context')
    .argument('<name>')
    .option('--server <url>', 'controller URL, e.g. http://127.0.0.1:6443 (required)')
    .action(async (name: string, _o: unknown, cmd: Command) => setContext(name, cmd, ctx));
  config
    .command('use-context')
    .description('Make a context the current one')
    .argument('<name>')
    .action(async (name: string) => useContext(name, ctx));
  config
    .command('get-contexts')
    .description('List contexts')
    .action(async () => getContexts(ctx));
  config
    .command('view')
    .description('Print the config file')
    .action(async () => {
      ctx.stdout.write(stringify(await loadConfig(ctx.home)));
    });
}
