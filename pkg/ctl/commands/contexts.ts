/**
 * `shoalctl config set-context|use-context|get-contexts|view` and `shoalctl context import FILE`:
 * the contexts file (config.ts: --config, $SHOAL_CONFIG or ~/.shoal/config) that picks the
 * controller and the credentials. `context import` takes a contexts file a controller wrote
 * (`<data-dir>/admin.config`) and merges its contexts in, making its current one current.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { errors } from '../../api/index.js';
import { configOf, globalOptions } from '../clients.js';
import { configPath, loadConfig, normalizeServer, parseConfigText, saveConfig, type CtlConfig } from '../config.js';
import type { CtlContext } from '../context.js';
import { formatTable } from '../format.js';

async function setContext(name: string, cmd: Command, ctx: CtlContext, o: { token?: string }): Promise<void> {
  // --server is also a global option; whichever level commander gave it to, it is the context's server.
  const given = globalOptions(cmd).server;
  if (given === undefined) throw errors.invalidArgument('set-context needs --server URL');
  const server = normalizeServer(given);
  const where = configOf(cmd, ctx);
  const cfg = await loadConfig(where);
  const existing = cfg.contexts.find((c) => c.name === name);
  if (existing) {
    existing.server = server;
    if (o.token !== undefined) existing.token = o.token;
  } else cfg.contexts.push({ name, server, ...(o.token !== undefined ? { token: o.token } : {}) });
  if (cfg.currentContext === undefined) cfg.currentContext = name;
  await saveConfig(where, cfg);
  ctx.stdout.write(`context "${name}" ${existing ? 'modified' : 'created'}\n`);
}

async function useContext(name: string, cmd: Command, ctx: CtlContext): Promise<void> {
  const where = configOf(cmd, ctx);
  const cfg = await loadConfig(where);
  if (!cfg.contexts.some((c) => c.name === name)) throw errors.notFound(`no context named "${name}" in ${configPath(where)}`);
  cfg.currentContext = name;
  await saveConfig(where, cfg);
  ctx.stdout.write(`switched to context "${name}"\n`);
}

function auth(c: CtlConfig['contexts'][number]): string {
  if (c.clientCertificate) return 'certificate';
  if (c.token) return 'token';
  return 'none';
}

async function getContexts(cmd: Command, ctx: CtlContext): Promise<void> {
  const cfg = await loadConfig(configOf(cmd, ctx));
  ctx.stdout.write(formatTable(cfg.contexts, [
    { header: 'CURRENT', value: (c) => (c.name === cfg.currentContext ? '*' : '') },
    { header: 'NAME', value: (c) => c.name },
    { header: 'SERVER', value: (c) => c.server },
    { header: 'AUTH', value: (c) => auth(c) },
  ]));
}

/** The file with keys and tokens replaced by REDACTED (as kubectl config view). */
export function redacted(cfg: CtlConfig): CtlConfig {
  return {
    ...cfg,
    contexts: cfg.contexts.map((c) => ({
      ...c,
      ...(c.certificateAuthority ? { certificateAuthority: 'DATA+OMITTED' } : {}),
      ...(c.clientCertificate ? { clientCertificate: 'DATA+OMITTED' } : {}),
      ...(c.clientKey ? { clientKey: 'REDACTED' } : {}),
      ...(c.token ? { token: 'REDACTED' } : {}),
    })),
  };
}

async function importContexts(file: string, cmd: Command, ctx: CtlContext, o: { server?: string }): Promise<void> {
  const path = isAbsolute(file) ? file : resolve(ctx.cwd, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw errors.invalidArgument(`cannot read ${path}: ${(err as Error).message}`);
  }
  const incoming = parseConfigText(text, path);
  if (incoming.contexts.length === 0) throw errors.invalidArgument(`${path} holds no context`);
  const where = configOf(cmd, ctx);
  const cfg = await loadConfig(where);
  for (const c of incoming.contexts) {
    const entry = { ...c, ...(o.server !== undefined ? { server: normalizeServer(o.server) } : {}) };
    const i = cfg.contexts.findIndex((e) => e.name === c.name);
    if (i >= 0) cfg.contexts[i] = entry;
    else cfg.contexts.push(entry);
  }
  cfg.currentContext = incoming.currentContext ?? incoming.contexts[0]?.name;
  await saveConfig(where, cfg);
  ctx.stdout.write(`imported ${incoming.contexts.map((c) => `"${c.name}"`).join(', ')} into ${configPath(where)}; current context "${cfg.currentContext ?? ''}"\n`);
}

export function registerContextsCommands(program: Command, ctx: CtlContext): void {
  const config = program.command('config').description('Manage controller contexts (--config, $SHOAL_CONFIG or ~/.shoal/config)');
  config
    .command('set-context')
    .description('Create or update a context')
    .argument('<name>')
    .option('--server <url>', 'controller URL, e.g. https://127.0.0.1:6443 (required)')
    .option('--token <token>', 'a bearer token (shoalctl token create)')
    .action(async (name: string, o: { token?: string }, cmd: Command) => setContext(name, cmd, ctx, o));
  config
    .command('use-context')
    .description('Make a context the current one')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => useContext(name, cmd, ctx));
  config
    .command('get-contexts')
    .description('List contexts')
    .action(async (_o: unknown, cmd: Command) => getContexts(cmd, ctx));
  config
    .command('view')
    .description('Print the config file (keys and tokens redacted)')
    .option('--raw', 'print keys and tokens too')
    .action(async (o: { raw?: boolean }, cmd: Command) => {
      const cfg = await loadConfig(configOf(cmd, ctx));
      ctx.stdout.write(stringify(o.raw ? cfg : redacted(cfg)));
    });
  const context = program.command('context').description('Take a cluster\'s credentials to this machine');
  context
    .command('import')
    .description('Merge the contexts of FILE (a controller\'s <data-dir>/admin.config) into the contexts file and use its current one')
    .argument('<file>')
    .option('--server <url>', 'the controller URL to use instead of the file\'s (another address of the controller)')
    .action(async (file: string, o: { server?: string }, cmd: Command) => importContexts(file, cmd, ctx, o));
}
