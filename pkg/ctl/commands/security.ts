/**
 * The cluster's credentials (issue 13), admin only on the controller's side:
 *
 *   shoalctl cluster join-token worker [-q] [--rotate]
 *   shoalctl token create --role viewer|deployer|admin [--namespace NS] [--ttl 24h] [--description D] [-q]
 *   shoalctl token ls
 *   shoalctl token rm ID...
 *   shoalctl cluster rotate-key
 */
import type { Command } from 'commander';
import { errors } from '../../api/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';
import { formatTable } from '../format.js';

interface TokenInfo {
  id: string;
  role: string;
  namespace?: string;
  createdAt: string;
  expiresAt?: string;
  createdBy: string;
  description?: string;
}

const C = '/apis/shoal/v1/cluster';

async function joinToken(role: string, o: { quiet?: boolean; rotate?: boolean }, cmd: Command, ctx: CtlContext): Promise<void> {
  if (role !== 'worker') throw errors.invalidArgument(`there is one join token, "worker" (controllers share the cluster key instead), not "${role}"`);
  const c = await apiClient(cmd, ctx);
  const r = await c.call<{ token: string }>(o.rotate ? 'POST' : 'GET', `${C}/join-tokens/worker${o.rotate ? '/rotate' : ''}`);
  if (o.quiet) {
    ctx.stdout.write(`${r.token}\n`);
    return;
  }
  if (o.rotate) ctx.stdout.write('Rotated the worker join token: the old one no longer joins nodes (nodes that joined keep their certificates).\n\n');
  ctx.stdout.write(`To add a worker to this cluster, run on it:\n\n    shoal-agent --controller ${c.server} --join-token ${r.token} --advertise-addr IP\n\n`);
}

async function tokenCreate(o: { role?: string; namespace?: string; ttl?: string; description?: string; quiet?: boolean }, cmd: Command, ctx: CtlContext): Promise<void> {
  if (o.role === undefined) throw errors.invalidArgument('token create needs --role viewer|deployer|admin');
  const c = await apiClient(cmd, ctx);
  const r = await c.call<TokenInfo & { token: string }>('POST', `${C}/tokens`, {
    role: o.role,
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
    ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
    ...(o.description !== undefined ? { description: o.description } : {}),
  });
  if (o.quiet) {
    ctx.stdout.write(`${r.token}\n`);
    return;
  }
  const scope = r.namespace !== undefined ? ` in namespace ${r.namespace}` : '';
  ctx.stdout.write(`token ${r.id} (${r.role}${scope}${r.expiresAt ? `, expires ${r.expiresAt}` : ''}):\n\n    ${r.token}\n\n`);
  ctx.stdout.write(`It is shown once. Use it with: shoalctl config set-context NAME --server ${c.server} --token TOKEN (or $SHOAL_TOKEN)\n`);
}

async function tokenList(cmd: Command, ctx: CtlContext): Promise<void> {
  const c = await apiClient(cmd, ctx);
  const r = await c.call<{ items: TokenInfo[] }>('GET', `${C}/tokens`);
  ctx.stdout.write(formatTable(r.items, [
    { header: 'ID', value: (t) => t.id },
    { header: 'ROLE', value: (t) => t.role },
    { header: 'NAMESPACE', value: (t) => t.namespace ?? '*' },
    { header: 'CREATED', value: (t) => t.createdAt },
    { header: 'EXPIRES', value: (t) => t.expiresAt ?? 'never' },
    { header: 'BY', value: (t) => t.createdBy },
    { header: 'DESCRIPTION', value: (t) => t.description ?? '' },
  ]));
}

async function tokenRemove(ids: string[], cmd: Command, ctx: CtlContext): Promise<void> {
  const c = await apiClient(cmd, ctx);
  for (const id of ids) {
    await c.call('DELETE', `${C}/tokens/${encodeURIComponent(id)}`);
    ctx.stdout.write(`token ${id} revoked\n`);
  }
}

export function registerSecurityCommands(program: Command, ctx: CtlContext): void {
  const cluster = program.commands.find((c) => c.name() === 'cluster');
  if (cluster === undefined) throw new Error('the cluster command must be registered first');
  cluster
    .command('join-token')
    .description('Print the token that joins a node to this cluster')
    .argument('<role>', 'worker')
    .option('-q, --quiet', 'print the token only')
    .option('--rotate', 'replace the token; the old one stops working')
    .action(async (role: string, o: { quiet?: boolean; rotate?: boolean }, cmd: Command) => joinToken(role, o, cmd, ctx));
  cluster
    .command('rotate-key')
    .description("Replace the cluster's encryption key and seal every secret again with the new one")
    .action(async (_o: unknown, cmd: Command) => {
      const c = await apiClient(cmd, ctx);
      const r = await c.call<{ keyId: string; resealed: number }>('POST', `${C}/rotate-key`);
      ctx.stdout.write(`encryption key ${r.keyId} in use; ${r.resealed} value${r.resealed === 1 ? '' : 's'} sealed again\n`);
    });
  const token = program.command('token').description('Bearer tokens for people and scripts (admin)');
  token
    .command('create')
    .description('Make a bearer token')
    .option('--role <role>', 'viewer, deployer or admin')
    .option('--namespace <ns>', 'bind the token to one namespace')
    .option('--ttl <duration>', 'lifetime, e.g. 24h (default: until revoked)')
    .option('--description <text>', 'what the token is for')
    .option('-q, --quiet', 'print the token only')
    .action(async (o: { role?: string; namespace?: string; ttl?: string; description?: string; quiet?: boolean }, cmd: Command) => tokenCreate(o, cmd, ctx));
  token
    .command('ls')
    .description('List tokens (never their secrets)')
    .action(async (_o: unknown, cmd: Command) => tokenList(cmd, ctx));
  token
    .command('rm')
    .description('Revoke tokens')
    .argument('<id...>')
    .action(async (ids: string[], _o: unknown, cmd: Command) => tokenRemove(ids, cmd, ctx));
}
