/**
 * shoalctl network commands: `network create [--subnet CIDR] NAME | ls | inspect NAME | rm NAME`,
 * on the engine API `/v1/networks`.
 */
import type { Command } from 'commander';
import { withEngine } from '../clients.js';
import type { CtlContext } from '../context.js';
import { parseOutputFormat, printJson, printTable, shortId } from '../format.js';

export function registerNetworksCommands(program: Command, ctx: CtlContext): void {
  const network = program.command('network').description('Manage the networks of a node');

  network
    .command('create')
    .description('Create a bridge network (own bridge, embedded DNS)')
    .argument('<name>')
    .option('--subnet <cidr>', 'subnet (default: a free /24 of the pool)')
    .action(async (name: string, o: { subnet?: string }, cmd: Command) => {
      await withEngine(cmd, ctx, async (c) => {
        const n = await c.createNetwork({ name, ...(o.subnet ? { subnet: o.subnet } : {}) }, ctx.signal);
        ctx.stdout.write(`${n.id}\n`);
      });
    });

  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'only display names')
    .option('-o, --output <format>', 'table or json')
    .action(async (o: { quiet?: boolean; output?: string }, cmd: Command) => {
      const fmt = parseOutputFormat(o.output, ['table', 'json']);
      await withEngine(cmd, ctx, async (c) => {
        const list = await c.listNetworks(ctx.signal);
        if (o.quiet) for (const n of list) ctx.stdout.write(`${n.name}\n`);
        else if (fmt === 'json') printJson(ctx.stdout, list);
        else
          printTable(ctx.stdout, list, [
            { header: 'NETWORK ID', value: (n) => shortId(n.id) },
            { header: 'NAME', value: (n) => n.name },
            { header: 'BRIDGE', value: (n) => n.bridge },
            { header: 'SUBNET', value: (n) => n.subnet },
            { header: 'SCOPE', value: (n) => (n.user ? 'user' : 'default') },
          ]);
      });
    });

  network
    .command('inspect')
    .description('Show a network and its endpoints as JSON')
    .argument('<name...>')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      await withEngine(cmd, ctx, async (c) => {
        const out: unknown[] = [];
        for (const n of names) out.push(await c.inspectNetwork(n, ctx.signal));
        printJson(ctx.stdout, out);
      });
    });

  network
    .command('rm')
    .alias('remove')
    .description('Remove networks (refused while containers are attached, unless -f)')
    .argument('<name...>')
    .option('-f, --force', 'remove even with attached containers')
    .action(async (names: string[], o: { force?: boolean }, cmd: Command) => {
      await withEngine(cmd, ctx, async (c) => {
        for (const n of names) {
          await c.removeNetwork(n, o.force === true, ctx.signal);
          ctx.stdout.write(`${n}\n`);
        }
      });
    });
}
