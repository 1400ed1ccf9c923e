/**
 * `shoalctl describe service|task|node NAME`: one object in detail for people, `Key: value`
 * lines, with its conditions and the tasks it runs as indented tables.
 */
import type { Command } from 'commander';
import { isTerminal, type Endpoints, type Node, type Service, type Task } from '../../api/index.js';
import type { ApiClient } from '../../client/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';
import { formatTable, type Column } from '../format.js';
import { pluralOf } from './kinds.js';
import { cpuText, memText, taskColumns } from './tables.js';

function kv(lines: string[], key: string, value: unknown): void {
  if (value === undefined || value === null || value === '') return;
  lines.push(`${(key + ':').padEnd(22)}${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

function mapText(m: Record<string, string> | undefined): string {
  const e = Object.entries(m ?? {});
  return e.length === 0 ? '<none>' : e.map(([k, v]) => `${k}=${v}`).join(', ');
}

/** `Title:` then the rows as an indented table, or `<none>`. */
function section<T>(lines: string[], title: string, rows: readonly T[], cols: readonly Column<T>[]): void {
  lines.push(`${title}:`);
  if (rows.length === 0) lines.push('  <none>');
  else for (const l of formatTable(rows, cols).trimEnd().split('\n')) lines.push(`  ${l}`);
}

async function describeService(c: ApiClient, ns: string, name: string, lines: string[]): Promise<void> {
  const s = await c.get<Service>('services', ns, name);
  kv(lines, 'Name', s.metadata.name);
  kv(lines, 'Namespace', s.metadata.namespace);
  kv(lines, 'Labels', mapText(s.metadata.labels));
  kv(lines, 'Created', s.metadata.creationTimestamp);
  kv(lines, 'Mode', s.spec.mode ?? 'replicated');
  if ((s.spec.mode ?? 'replicated') !== 'global') kv(lines, 'Replicas', `${s.spec.replicas ?? 1} desired | ${s.status?.replicas ?? 0} current | ${s.status?.readyReplicas ?? 0} ready | ${s.status?.updatedReplicas ?? 0} updated`);
  kv(lines, 'Schedule', s.spec.schedule);
  kv(lines, 'Generation', `${s.metadata.generation ?? 1} (observed ${s.status?.observedGeneration ?? '-'})`);
  for (const ct of s.spec.template?.spec?.containers ?? []) {
    lines.push(`Container ${ct.name}:`);
    kv(lines, '  Image', ct.image);
    if (ct.command) kv(lines, '  Command', ct.command.join(' '));
    if (ct.args) kv(lines, '  Args', ct.args.join(' '));
    if (ct.resources?.requests) kv(lines, '  Requests', mapText(ct.resources.requests as Record<string, string>));
    if (ct.resources?.limits) kv(lines, '  Limits', mapText(ct.resources.limits as Record<string, string>));
    if (ct.env) kv(lines, '  Env', ct.env.map((e) => `${e.name}=${e.value ?? ''}`).join(', '));
  }
  if (s.spec.ports) kv(lines, 'Ports', s.spec.ports.map((p) => `${p.port}->${p.targetPort}/${p.protocol ?? 'TCP'} (${p.mode ?? 'ingress'})`).join(', '));
  kv(lines, 'Endpoint mode', s.spec.endpointMode ?? 'vip');
  kv(lines, 'Virtual IP', s.status?.virtualIP ?? ((s.spec.endpointMode ?? 'vip') === 'vip' ? '<not allocated yet>' : '<none: dnsrr>'));
  kv(lines, 'Networks', (s.spec.networks ?? []).join(', ') || 'default');
  if (s.spec.placement?.constraints) kv(lines, 'Constraints', s.spec.placement.constraints.join(', '));
  if (s.spec.placement?.maxReplicasPerNode) kv(lines, 'Max per node', String(s.spec.placement.maxReplicasPerNode));
  if (s.spec.restart) kv(lines, 'Restart', s.spec.restart);
  if (s.spec.update) kv(lines, 'Update', s.spec.update);
  section(lines, 'Conditions', s.status?.conditions ?? [], [
    { header: 'TYPE', value: (x) => x.type },
    { header: 'STATUS', value: (x) => x.status },
    { header: 'REASON', value: (x) => x.reason ?? '' },
    { header: 'MESSAGE', value: (x) => x.message ?? '' },
  ]);
  const ep = await c.get<Endpoints>('endpoints', ns, name).catch(() => undefined);
  section(lines, 'Endpoints', ep?.spec.addresses ?? [], [
    { header: 'IP', value: (a) => a.ip },
    { header: 'TASK', value: (a) => a.taskName },
    { header: 'NODE', value: (a) => a.nodeName },
  ]);
  const tasks = await c.list<Task>('tasks', { namespace: ns, fieldSelector: `spec.serviceName=${name}` });
  section(lines, 'Tasks', tasks.items, taskColumns({ wide: false, allNamespaces: false }));
}

async function describeTask(c: ApiClient, ns: string, name: string, lines: string[]): Promise<void> {
  const t = await c.get<Task>('tasks', ns, name);
  kv(lines, 'Name', t.metadata.name);
  kv(lines, 'Namespace', t.metadata.namespace);
  kv(lines, 'Service', t.spec.serviceName);
  kv(lines, 'Slot', t.spec.slot === undefined ? undefined : String(t.spec.slot));
  kv(lines, 'Node', t.spec.nodeName ?? '<none>');
  kv(lines, 'Desired state', t.spec.desiredState);
  kv(lines, 'State', t.status?.state);
  kv(lines, 'Since', t.status?.timestamp);
  kv(lines, 'Message', t.status?.message);
  kv(lines, 'Reason', t.status?.reason);
  kv(lines, 'Container', t.status?.containerId);
  kv(lines, 'IP', t.status?.ip);
  kv(lines, 'Exit code', t.status?.exitCode === undefined ? undefined : String(t.status.exitCode));
  kv(lines, 'Started', t.status?.startedAt);
  kv(lines, 'Finished', t.status?.finishedAt);
  kv(lines, 'Health', t.status?.health);
  kv(lines, 'Image', t.spec.template?.spec?.containers?.map((x) => x.image).join(', '));
  kv(lines, 'Created', t.metadata.creationTimestamp);
}

async function describeNode(c: ApiClient, name: string, lines: string[]): Promise<void> {
  const n = await c.get<Node>('nodes', undefined, name);
  kv(lines, 'Name', n.metadata.name);
  kv(lines, 'Status', n.status?.state ?? 'unknown');
  kv(lines, 'Message', n.status?.message);
  kv(lines, 'Availability', n.spec?.availability ?? 'active');
  kv(lines, 'Labels', mapText({ ...(n.metadata.labels ?? {}), ...(n.spec?.labels ?? {}) }));
  kv(lines, 'Addresses', (n.status?.addresses ?? []).map((a) => `${a.type}=${a.address}`).join(', ') || '<none>');
  kv(lines, 'Pod CIDR', n.spec?.podCIDR);
  const res = (r: Node['status']['capacity']) => (r ? `cpu=${cpuText(r.cpu)}, memory=${memText(r.memory)}, pods=${r.pods}` : undefined);
  kv(lines, 'Capacity', res(n.status?.capacity));
  kv(lines, 'Allocatable', res(n.status?.allocatable));
  const info = n.status?.info;
  if (info) kv(lines, 'Info', Object.entries(info).map(([k, v]) => `${k}=${String(v)}`).join(', '));
  kv(lines, 'Last heartbeat', n.status?.lastHeartbeat);
  kv(lines, 'Created', n.metadata.creationTimestamp);
  const tasks = await c.list<Task>('tasks', { all: true, fieldSelector: `spec.nodeName=${name}` });
  const live = tasks.items.filter((t) => !isTerminal(t.status?.state ?? 'new'));
  section(lines, 'Tasks', live, taskColumns({ wide: false, allNamespaces: true }));
}

async function describeCommand(kind: string, name: string, o: { namespace?: string }, cmd: Command, ctx: CtlContext): Promise<void> {
  const plural = pluralOf(kind);
  const c = await apiClient(cmd, ctx);
  const ns = o.namespace ?? 'default';
  const lines: string[] = [];
  if (plural === 'services') await describeService(c, ns, name, lines);
  else if (plural === 'tasks') await describeTask(c, ns, name, lines);
  else await describeNode(c, name, lines);
  ctx.stdout.write(lines.join('\n') + '\n');
}

export function registerDescribeCommand(program: Command, ctx: CtlContext): void {
  program
    .command('describe')
    .description('Show a service, task or node in detail')
    .argument('<kind>', 'service|task|node')
    .argument('<name>')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .action(async (kind: string, name: string, o: { namespace?: string }, cmd: Command) => describeCommand(kind, name, o, cmd, ctx));
}
