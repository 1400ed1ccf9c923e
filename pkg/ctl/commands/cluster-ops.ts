/**
 * Operating the cluster: `shoalctl scale service/NAME --replicas N`, `node drain|pause|activate
 * NAME...`, `cluster info` and `cluster backup FILE` (backup.ts).
 */
import type { Command } from 'commander';
import { errors } from '../../api/index.js';
import type { ClusterInfo } from '../../client/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';
import { parseOutputFormat, printStructured } from '../format.js';
import { registerBackupCommand } from './backup.js';
import { parseRef } from './kinds.js';

async function scaleCommand(ref: string, o: { replicas: string; namespace?: string }, cmd: Command, ctx: CtlContext): Promise<void> {
  const { plural, name } = parseRef(ref, 'service');
  if (plural !== 'services') throw errors.invalidArgument(`only services can be scaled, not ${plural}`);
  if (!/^\d+$/.test(o.replicas)) throw errors.invalidArgument(`--replicas must be a whole number >= 0, got "${o.replicas}"`);
  const c = await apiClient(cmd, ctx);
  await c.scale(o.namespace ?? 'default', name, Number(o.replicas));
  ctx.stdout.write(`service/${name} scaled\n`);
}

const AVAILABILITY = {
  drain: { availability: 'drain', done: 'drained', help: 'move tasks off the node and place nothing new on it' },
  pause: { availability: 'pause', done: 'paused', help: 'keep running tasks, place nothing new on the node' },
  activate: { availability: 'active', done: 'activated', help: 'make the node available for tasks again' },
} as const;

async function nodeAvailability(action: keyof typeof AVAILABILITY, names: string[], cmd: Command, ctx: CtlContext): Promise<void> {
  const a = AVAILABILITY[action];
  const c = await apiClient(cmd, ctx);
  for (const name of names) {
    await c.patch('nodes', undefined, name, { spec: { availability: a.availability } });
    ctx.stdout.write(`node/${name} ${a.done}\n`);
  }
}

/** `3 members, 2 reachable, leader http://...` or the reason there is no leader. */
function etcdLine(e: NonNullable<ClusterInfo['etcd']>): string {
  const reachable = e.members.filter((m) => m.reachable).length;
  const head = `${e.members.length} member${e.members.length === 1 ? '' : 's'}, ${reachable} reachable`;
  if (e.state === 'ok') return `${head}, leader ${e.leader ?? '(not one of ours)'}`;
  if (e.state === 'unknown') return `${head}, not probed yet`;
  return `${head}, NO LEADER: ${e.reason ?? 'quorum lost'}`;
}

async function clusterInfo(cmd: Command, ctx: CtlContext, o: { output?: string }): Promise<void> {
  const c = await apiClient(cmd, ctx);
  const info = await c.clusterInfo();
  const fmt = parseOutputFormat(o.output);
  if (fmt === 'json' || fmt === 'yaml') return printStructured(ctx.stdout, fmt, { server: c.server, ...info });
  const states = Object.entries(info.nodes.byState).map(([s, n]) => `${n} ${s}`).join(', ');
  ctx.stdout.write(
    [
      `Server:       ${c.server}`,
      `Version:      ${info.version}`,
      `Leader:       ${info.leader ?? '<none>'}`,
      ...(info.controller?.id ? [`Answered by:  ${info.controller.id}${info.controller.isLeader ? ' (leader)' : ''}`] : []),
      `Nodes:        ${info.nodes.total}${states ? ` (${states})` : ''}`,
      ...(info.etcd ? [`etcd:         ${etcdLine(info.etcd)}`] : []),
    ].join('\n') + '\n',
  );
}

export function registerClusterOpsCommands(program: Command, ctx: CtlContext): void {
  program
    .command('scale')
    .description('Set the number of replicas of a service')
    .argument('<service>', 'service/NAME')
    .requiredOption('--replicas <n>', 'desired replicas')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .action(async (ref: string, o: { replicas: string; namespace?: string }, cmd: Command) => scaleCommand(ref, o, cmd, ctx));

  const node = program.command('node').description('Change the availability of nodes');
  for (const action of ['drain', 'pause', 'activate'] as const) {
    node
      .command(action)
      .description(AVAILABILITY[action].help)
      .argument('<names...>')
      .action(async (names: string[], _o: unknown, cmd: Command) => nodeAvailability(action, names, cmd, ctx));
  }

  const cluster = program.command('cluster').description('Cluster-wide information and backups');
  registerBackupCommand(cluster, ctx);
  cluster
    .command('info')
    .description('Show the controller, version, leader and node count')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (o: { output?: string }, cmd: Command) => clusterInfo(cmd, ctx, o));
}
