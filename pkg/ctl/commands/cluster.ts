/**
 * shoalctl cluster commands (DESIGN.md section 8), against the controller API:
 * apply, get, describe, delete, scale, node drain|pause|activate, cluster info, config.
 * The controller is `--server`, else $SHOAL_SERVER, else the current context of ~/.shoal/config.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import {
  errors, formatCpuMillis, humanMemory, isShoalError, isTerminal, parseCpuMillis, parseDurationMs, parseMemoryBytes,
  type ApiObject, type List, type Node, type ResourcePlural, type Service, type Task,
} from '../../api/index.js';
import { ApiClient } from '../../client/index.js';
import { loadConfig, normalizeServer, resolveServer, saveConfig } from '../config.js';
import type { CtlContext, OutStream } from '../context.js';
import { formatTable, parseOutputFormat, printJson, printYaml, type Column, type OutputFormat } from '../format.js';
import { loadManifests, type ManifestDoc } from '../manifest.js';
import { formatError } from '../output.js';
import { waitForService } from './wait.js';

const KINDS: Record<string, ResourcePlural> = {
  service: 'services', services: 'services', svc: 'services',
  task: 'tasks', tasks: 'tasks',
  node: 'nodes', nodes: 'nodes', no: 'nodes',
};
const SINGULAR: Record<ResourcePlural, string> = { services: 'service', tasks: 'task', nodes: 'node' };
const PLURAL_OF_KIND: Record<string, ResourcePlural> = { Service: 'services', Task: 'tasks', Node: 'nodes' };

export function pluralOf(kind: string): ResourcePlural {
  const p = KINDS[kind.toLowerCase()];
  if (!p) throw errors.invalidArgument(`unknown resource type "${kind}": use services, tasks or nodes`);
  return p;
}

/** `service/web` or `web` (with a default kind). */
function parseRef(ref: string, defaultKind?: string): { plural: ResourcePlural; name: string } {
  const i = ref.indexOf('/');
  if (i < 0) {
    if (!defaultKind) throw errors.invalidArgument(`"${ref}": want KIND/NAME, e.g. service/web`);
    return { plural: pluralOf(defaultKind), name: ref };
  }
  return { plural: pluralOf(ref.slice(0, i)), name: ref.slice(i + 1) };
}

async function client(cmd: Command, ctx: CtlContext): Promise<ApiClient> {
  const server = (cmd.optsWithGlobals() as { server?: string }).server;
  return new ApiClient(await resolveServer(server, ctx.env, ctx.home), ctx.signal);
}

/** Short age as kubectl prints it: 5s, 3m, 2h, 4d. */
export function shortAge(iso: string | undefined, now: Date = new Date()): string {
  if (!iso) return '<unknown>';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 3600 * 2) return `${Math.floor(s / 60)}m`;
  if (s < 86400 * 2) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function cpuText(q: string | undefined): string {
  if (q === undefined) return '-';
  try {
    return formatCpuMillis(parseCpuMillis(q));
  } catch {
    return q;
  }
}
function memText(q: string | undefined): string {
  if (q === undefined) return '-';
  try {
    return humanMemory(parseMemoryBytes(q));
  } catch {
    return q;
  }
}

// ── tables ────────────────────────────────────────────────────────────────────────────────

interface TableCtx {
  wide: boolean;
  allNamespaces: boolean;
  /** Non-terminal tasks per node (nodes table). */
  tasksPerNode?: Map<string, number>;
}

function withNamespace<T extends ApiObject>(cols: Column<T>[], t: TableCtx): Column<T>[] {
  return t.allNamespaces ? [{ header: 'NAMESPACE', value: (o) => o.metadata.namespace ?? '' }, ...cols] : cols;
}

function serviceColumns(t: TableCtx): Column<Service>[] {
  const cols: Column<Service>[] = [
    { header: 'NAME', value: (s) => s.metadata.name },
    { header: 'MODE', value: (s) => s.spec.mode ?? 'replicated' },
    {
      header: 'REPLICAS',
      value: (s) => {
        const desired = (s.spec.mode ?? 'replicated') === 'global' ? (s.status?.replicas ?? 0) : (s.spec.replicas ?? 1);
        return `${s.status?.readyReplicas ?? 0}/${desired}`;
      },
    },
    { header: 'IMAGE', value: (s) => s.spec.template?.spec?.containers?.map((c) => c.image).join(',') ?? '' },
  ];
  if (t.wide) {
    cols.push({ header: 'PORTS', value: (s) => (s.spec.ports ?? []).map((p) => `*:${p.port}->${p.targetPort}/${(p.protocol ?? 'TCP').toLowerCase()}`).join(',') || '<none>' });
    cols.push({ header: 'CONSTRAINTS', value: (s) => (s.spec.placement?.constraints ?? []).join(',') || '<none>' });
  }
  cols.push({ header: 'AGE', value: (s) => shortAge(s.metadata.creationTimestamp) });
  return withNamespace(cols, t);
}

function taskColumns(t: TableCtx): Column<Task>[] {
  const cols: Column<Task>[] = [
    { header: 'NAME', value: (k) => k.metadata.name },
    { header: 'STATE', value: (k) => k.status?.state ?? 'new' },
    { header: 'NODE', value: (k) => k.spec.nodeName ?? '<none>' },
    { header: 'IP', value: (k) => k.status?.ip ?? '<none>' },
    { header: 'AGE', value: (k) => shortAge(k.metadata.creationTimestamp) },
  ];
  if (t.wide) {
    cols.push({ header: 'DESIRED', value: (k) => k.spec.desiredState });
    cols.push({ header: 'SLOT', value: (k) => (k.spec.slot === undefined ? '-' : String(k.spec.slot)) });
    cols.push({ header: 'CONTAINER', value: (k) => (k.status?.containerId ?? '').slice(0, 12) || '<none>' });
  }
  cols.push({ header: 'MESSAGE', value: (k) => k.status?.message ?? k.status?.reason ?? '' });
  return withNamespace(cols, t);
}

function nodeColumns(t: TableCtx): Column<Node>[] {
  const cols: Column<Node>[] = [
    { header: 'NAME', value: (n) => n.metadata.name },
    { header: 'STATUS', value: (n) => n.status?.state ?? 'unknown' },
    { header: 'AVAILABILITY', value: (n) => n.spec?.availability ?? 'active' },
    { header: 'CPU', value: (n) => cpuText((n.status?.allocatable ?? n.status?.capacity)?.cpu) },
    { header: 'MEMORY', value: (n) => memText((n.status?.allocatable ?? n.status?.capacity)?.memory) },
    { header: 'TASKS', value: (n) => String(t.tasksPerNode?.get(n.metadata.name) ?? 0) },
    { header: 'AGE', value: (n) => shortAge(n.metadata.creationTimestamp) },
  ];
  if (t.wide) {
    cols.push({ header: 'ADDRESS', value: (n) => n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '<none>' });
    cols.push({ header: 'KERNEL', value: (n) => n.status?.info?.kernel ?? '-' });
    cols.push({ header: 'AGENT', value: (n) => n.status?.info?.agentVersion ?? '-' });
  }
  return cols;
}

function columnsFor(plural: ResourcePlural, t: TableCtx): Column<ApiObject>[] {
  if (plural === 'services') return serviceColumns(t) as Column<ApiObject>[];
  if (plural === 'tasks') return taskColumns(t) as Column<ApiObject>[];
  return nodeColumns(t) as Column<ApiObject>[];
}

async function tasksPerNode(c: ApiClient): Promise<Map<string, number>> {
  const tasks = await c.list<Task>('tasks', { all: true });
  const m = new Map<string, number>();
  for (const t of tasks.items) {
    if (!t.spec.nodeName || isTerminal(t.status?.state ?? 'new')) continue;
    m.set(t.spec.nodeName, (m.get(t.spec.nodeName) ?? 0) + 1);
  }
  return m;
}

// ── get ───────────────────────────────────────────────────────────────────────────────────

interface GetOpts {
  output?: string;
  watch?: boolean;
  selector?: string;
  fieldSelector?: string;
  namespace?: string;
  allNamespaces?: boolean;
}

function printObjects(out: OutStream, fmt: OutputFormat, value: unknown): void {
  if (fmt === 'json') printJson(out, value);
  else printYaml(out, value);
}

async function getCommand(kind: string, name: string | undefined, o: GetOpts, cmd: Command, ctx: CtlContext): Promise<void> {
  const plural = pluralOf(kind);
  const fmt = parseOutputFormat(o.output, ['table', 'wide', 'json', 'yaml']);
  const c = await client(cmd, ctx);
  const all = Boolean(o.allNamespaces) && plural !== 'nodes';
  const listOpts = {
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
    all,
    ...(o.selector !== undefined ? { labelSelector: o.selector } : {}),
    ...(o.fieldSelector !== undefined || name !== undefined
      ? { fieldSelector: [o.fieldSelector, name !== undefined ? `metadata.name=${name}` : undefined].filter(Boolean).join(',') }
      : {}),
  };
  const t: TableCtx = { wide: fmt === 'wide', allNamespaces: all };
  if (plural === 'nodes' && (fmt === 'table' || fmt === 'wide')) t.tasksPerNode = await tasksPerNode(c);
  const cols = columnsFor(plural, t);

  let list: List<ApiObject>;
  if (name !== undefined && !o.watch) {
    const obj = await c.get<ApiObject>(plural, o.namespace, name);
    list = { apiVersion: 'shoal/v1', kind: `${obj.kind}List`, metadata: { resourceVersion: obj.metadata.resourceVersion ?? '' }, items: [obj] };
    if (fmt === 'json' || fmt === 'yaml') return printObjects(ctx.stdout, fmt, obj);
  } else {
    list = await c.list<ApiObject>(plural, listOpts);
  }
  if (fmt === 'json' || fmt === 'yaml') {
    if (!o.watch) return printObjects(ctx.stdout, fmt, list);
    for (const item of list.items) ctx.stdout.write(JSON.stringify({ type: 'ADDED', object: item }) + '\n');
  } else if (list.items.length === 0 && !o.watch) {
    ctx.stderr.write(all || plural === 'nodes' ? `No resources found\n` : `No resources found in ${o.namespace ?? 'default'} namespace.\n`);
    return;
  } else {
    ctx.stdout.write(formatTable(list.items, cols));
  }
  if (!o.watch) return;
  // Rows of later events are laid out with the initial rows, so the columns stay aligned.
  const rows = (obj: ApiObject): string => {
    const lines = formatTable([...list.items, obj], cols).trimEnd().split('\n');
    return (lines[lines.length - 1] ?? '') + '\n';
  };
  try {
    for await (const ev of c.watch<ApiObject>(plural, { ...listOpts, resourceVersion: list.metadata.resourceVersion }, ctx.signal)) {
      if (ev.type === 'BOOKMARK') continue;
      if (fmt === 'json' || fmt === 'yaml') ctx.stdout.write(JSON.stringify(ev) + '\n');
      else ctx.stdout.write(ev.type === 'DELETED' ? rows(ev.object).replace(/\n$/, '   (deleted)\n') : rows(ev.object));
    }
  } catch (err) {
    if (ctx.signal.aborted) return;
    throw err;
  }
}

// ── apply ─────────────────────────────────────────────────────────────────────────────────

export type ApplyResult = 'created' | 'configured' | 'unchanged';

function sameJson(a: unknown, b: unknown): boolean {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = norm(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/** Creates the object, or replaces its spec (and labels/annotations) when it exists; status is never sent. */
export async function applyOne(c: ApiClient, doc: ManifestDoc, defaultNs: string | undefined): Promise<{ ref: string; result: ApplyResult; object: ApiObject }> {
  const obj = structuredClone(doc.object);
  const kind = obj['kind'];
  const plural = typeof kind === 'string' ? PLURAL_OF_KIND[kind] : undefined;
  if (!plural || plural === 'tasks') {
    throw errors.invalidArgument(`${doc.source}: kind ${JSON.stringify(kind)} cannot be applied (use Service or Node)`);
  }
  const meta = (obj['metadata'] ?? {}) as Record<string, unknown>;
  const name = typeof meta['name'] === 'string' ? meta['name'] : undefined;
  const ns = plural === 'nodes' ? undefined : typeof meta['namespace'] === 'string' ? meta['namespace'] : (defaultNs ?? 'default');
  const ref = `${SINGULAR[plural]}/${name ?? '<unnamed>'}`;
  delete obj['status'];
  if (name === undefined) {
    // Let the server report every problem, metadata.name included.
    return { ref, result: 'created', object: await c.create(plural, ns, obj) };
  }
  for (let attempt = 0; ; attempt++) {
    const cur = await c.find<ApiObject>(plural, ns, name);
    if (!cur) {
      try {
        return { ref, result: 'created', object: await c.create(plural, ns, obj) };
      } catch (err) {
        if (isShoalError(err, 'AlreadyExists') && attempt < 3) continue;
        throw err;
      }
    }
    const labels = meta['labels'] ?? cur.metadata.labels;
    const annotations = meta['annotations'] ?? cur.metadata.annotations;
    if (sameJson(obj['spec'], cur.spec) && sameJson(labels, cur.metadata.labels) && sameJson(annotations, cur.metadata.annotations)) {
      return { ref, result: 'unchanged', object: cur };
    }
    const body = { ...obj, metadata: { ...meta, resourceVersion: cur.metadata.resourceVersion } };
    try {
      return { ref, result: 'configured', object: await c.replace(plural, ns, name, body) };
    } catch (err) {
      if (isShoalError(err, 'Conflict') && attempt < 3) continue;
      throw err;
    }
  }
}

function prefixError(source: string, err: unknown): string {
  const text = formatError(err);
  return text.replace(/^error: /, `error: ${source}: `);
}

async function applyCommand(o: { filename: string[]; namespace?: string; wait?: boolean; timeout?: string }, cmd: Command, ctx: CtlContext): Promise<void> {
  const c = await client(cmd, ctx);
  const docs: ManifestDoc[] = [];
  for (const f of o.filename) docs.push(...(await loadManifests(f, { cwd: ctx.cwd, stdin: ctx.stdin })));
  if (docs.length === 0) throw errors.invalidArgument(`no objects found in ${o.filename.join(', ')}`);
  let failed = 0;
  const toWait: { ns: string; name: string }[] = [];
  for (const doc of docs) {
    try {
      const r = await applyOne(c, doc, o.namespace);
      ctx.stdout.write(`${r.ref} ${r.result}\n`);
      if (r.object.kind === 'Service') toWait.push({ ns: r.object.metadata.namespace ?? 'default', name: r.object.metadata.name });
    } catch (err) {
      if (isShoalError(err, 'Unavailable')) throw err;
      failed++;
      ctx.stderr.write(prefixError(doc.source, err));
    }
  }
  if (o.wait) {
    const timeoutMs = o.timeout ? parseDurationMs(o.timeout) : 300_000;
    if (timeoutMs <= 0) throw errors.invalidArgument(`invalid --timeout "${o.timeout}": want a positive duration such as 90s or 5m`);
    for (const w of toWait) {
      try {
        await waitForService(c, w.ns, w.name, ctx, timeoutMs);
        ctx.stdout.write(`service/${w.name} ready\n`);
      } catch (err) {
        failed++;
        ctx.stderr.write(formatError(err));
      }
    }
  }
  if (failed > 0) ctx.setExitCode(1);
}

// ── describe ──────────────────────────────────────────────────────────────────────────────

function kv(lines: string[], key: string, value: unknown): void {
  if (value === undefined || value === null || value === '') return;
  lines.push(`${(key + ':').padEnd(22)}${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

function mapText(m: Record<string, string> | undefined): string {
  const e = Object.entries(m ?? {});
  return e.length === 0 ? '<none>' : e.map(([k, v]) => `${k}=${v}`).join(', ');
}

async function describeCommand(kind: string, name: string, o: { namespace?: string }, cmd: Command, ctx: CtlContext): Promise<void> {
  const plural = pluralOf(kind);
  const c = await client(cmd, ctx);
  const ns = o.namespace ?? 'default';
  const lines: string[] = [];
  if (plural === 'services') {
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
    if (s.spec.placement?.constraints) kv(lines, 'Constraints', s.spec.placement.constraints.join(', '));
    if (s.spec.placement?.maxReplicasPerNode) kv(lines, 'Max per node', String(s.spec.placement.maxReplicasPerNode));
    if (s.spec.restart) kv(lines, 'Restart', s.spec.restart);
    if (s.spec.update) kv(lines, 'Update', s.spec.update);
    lines.push('Conditions:');
    const conds = s.status?.conditions ?? [];
    if (conds.length === 0) lines.push('  <none>');
    else
      for (const l of formatTable(conds, [
        { header: 'TYPE', value: (x) => x.type },
        { header: 'STATUS', value: (x) => x.status },
        { header: 'REASON', value: (x) => x.reason ?? '' },
        { header: 'MESSAGE', value: (x) => x.message ?? '' },
      ]).trimEnd().split('\n')) lines.push(`  ${l}`);
    const tasks = await c.list<Task>('tasks', { namespace: ns, fieldSelector: `spec.serviceName=${name}` });
    lines.push('Tasks:');
    if (tasks.items.length === 0) lines.push('  <none>');
    else for (const l of formatTable(tasks.items, taskColumns({ wide: false, allNamespaces: false })).trimEnd().split('\n')) lines.push(`  ${l}`);
  } else if (plural === 'tasks') {
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
  } else {
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
    lines.push('Tasks:');
    const live = tasks.items.filter((t) => !isTerminal(t.status?.state ?? 'new'));
    if (live.length === 0) lines.push('  <none>');
    else for (const l of formatTable(live, taskColumns({ wide: false, allNamespaces: true })).trimEnd().split('\n')) lines.push(`  ${l}`);
  }
  ctx.stdout.write(lines.join('\n') + '\n');
}

// ── delete, scale, node, cluster, config ──────────────────────────────────────────────────

async function deleteCommand(args: string[], o: { filename?: string[]; namespace?: string; ignoreNotFound?: boolean }, cmd: Command, ctx: CtlContext): Promise<void> {
  const c = await client(cmd, ctx);
  const targets: { plural: ResourcePlural; ns: string | undefined; name: string; source?: string }[] = [];
  if (o.filename && o.filename.length > 0) {
    if (args.length > 0) throw errors.invalidArgument('give either -f FILE or KIND NAME, not both');
    for (const f of o.filename) {
      for (const d of await loadManifests(f, { cwd: ctx.cwd, stdin: ctx.stdin })) {
        const kind = d.object['kind'];
        const plural = typeof kind === 'string' ? PLURAL_OF_KIND[kind] : undefined;
        const meta = (d.object['metadata'] ?? {}) as Record<string, unknown>;
        if (!plural || typeof meta['name'] !== 'string') throw errors.invalidArgument(`${d.source}: needs a kind (Service, Task, Node) and metadata.name`);
        targets.push({ plural, ns: typeof meta['namespace'] === 'string' ? meta['namespace'] : o.namespace, name: meta['name'], source: d.source });
      }
    }
  } else {
    if (args.length === 0) throw errors.invalidArgument('nothing to delete: give -f FILE, KIND NAME... or KIND/NAME...');
    const first = args[0] ?? '';
    if (first.includes('/')) for (const a of args) targets.push({ ...parseRef(a), ns: o.namespace });
    else {
      const plural = pluralOf(first);
      if (args.length < 2) throw errors.invalidArgument(`delete ${first}: give at least one NAME`);
      for (const name of args.slice(1)) targets.push({ plural, ns: o.namespace, name });
    }
  }
  let failed = 0;
  for (const t of targets) {
    try {
      await c.delete(t.plural, t.ns, t.name);
      ctx.stdout.write(`${SINGULAR[t.plural]}/${t.name} deleted\n`);
    } catch (err) {
      if (isShoalError(err, 'NotFound') && o.ignoreNotFound) continue;
      if (isShoalError(err, 'Unavailable')) throw err;
      failed++;
      ctx.stderr.write(formatError(err));
    }
  }
  if (failed > 0) ctx.setExitCode(1);
}

async function scaleCommand(ref: string, o: { replicas: string; namespace?: string }, cmd: Command, ctx: CtlContext): Promise<void> {
  const { plural, name } = parseRef(ref, 'service');
  if (plural !== 'services') throw errors.invalidArgument(`only services can be scaled, not ${plural}`);
  if (!/^\d+$/.test(o.replicas)) throw errors.invalidArgument(`--replicas must be a whole number >= 0, got "${o.replicas}"`);
  const c = await client(cmd, ctx);
  await c.scale(o.namespace ?? 'default', name, Number(o.replicas));
  ctx.stdout.write(`service/${name} scaled\n`);
}

const AVAIL: Record<string, { availability: 'active' | 'pause' | 'drain'; done: string }> = {
  drain: { availability: 'drain', done: 'drained' },
  pause: { availability: 'pause', done: 'paused' },
  activate: { availability: 'active', done: 'activated' },
};

async function nodeAvailability(action: string, names: string[], cmd: Command, ctx: CtlContext): Promise<void> {
  const a = AVAIL[action];
  if (!a) throw errors.invalidArgument(`unknown node action "${action}"`);
  const c = await client(cmd, ctx);
  for (const name of names) {
    await c.patch('nodes', undefined, name, { spec: { availability: a.availability } });
    ctx.stdout.write(`node/${name} ${a.done}\n`);
  }
}

async function clusterInfo(cmd: Command, ctx: CtlContext, o: { output?: string }): Promise<void> {
  const c = await client(cmd, ctx);
  const info = await c.clusterInfo();
  const fmt = parseOutputFormat(o.output);
  if (fmt !== 'table') return printObjects(ctx.stdout, fmt, { server: c.server, ...info });
  const states = Object.entries(info.nodes.byState).map(([s, n]) => `${n} ${s}`).join(', ');
  ctx.stdout.write(
    [
      `Server:       ${c.server}`,
      `Version:      ${info.version}`,
      `Leader:       ${info.leader ?? '<none>'}`,
      ...(info.controller?.id ? [`Answered by:  ${info.controller.id}${info.controller.isLeader ? ' (leader)' : ''}`] : []),
      `Nodes:        ${info.nodes.total}${states ? ` (${states})` : ''}`,
    ].join('\n') + '\n',
  );
}

export function registerClusterCommands(program: Command, ctx: CtlContext): void {
  const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

  program
    .command('apply')
    .description('Create or update objects from manifests (FILE, DIR or - for stdin)')
    .requiredOption('-f, --filename <path>', 'manifest file, directory or - (repeatable)', collect)
    .option('-n, --namespace <ns>', 'namespace for objects that name none')
    .option('--wait', 'wait until every applied service is ready')
    .option('--timeout <duration>', 'how long --wait waits, e.g. 90s or 10m (default 5m)')
    .action(async (o: { filename: string[]; namespace?: string; wait?: boolean; timeout?: string }, cmd: Command) => applyCommand(o, cmd, ctx));

  program
    .command('get')
    .description('List services, tasks or nodes (or show one)')
    .argument('<kind>', 'services|tasks|nodes')
    .argument('[name]')
    .option('-o, --output <format>', 'table, wide, json or yaml', 'table')
    .option('-w, --watch', 'after listing, watch for changes')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('--field-selector <selector>', 'field selector, e.g. spec.nodeName=n1')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .option('-A, --all-namespaces', 'every namespace')
    .action(async (kind: string, name: string | undefined, o: GetOpts, cmd: Command) => getCommand(kind, name, o, cmd, ctx));

  program
    .command('describe')
    .description('Show a service, task or node in detail')
    .argument('<kind>', 'service|task|node')
    .argument('<name>')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .action(async (kind: string, name: string, o: { namespace?: string }, cmd: Command) => describeCommand(kind, name, o, cmd, ctx));

  program
    .command('delete')
    .description('Delete objects named in manifests (-f) or by KIND NAME...')
    .argument('[args...]', 'KIND NAME... or KIND/NAME...')
    .option('-f, --filename <path>', 'manifest file, directory or - (repeatable)', collect)
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .option('--ignore-not-found', 'do not fail on objects that do not exist')
    .action(async (args: string[], o: { filename?: string[]; namespace?: string; ignoreNotFound?: boolean }, cmd: Command) => deleteCommand(args, o, cmd, ctx));

  program
    .command('scale')
    .description('Set the number of replicas of a service')
    .argument('<service>', 'service/NAME')
    .requiredOption('--replicas <n>', 'desired replicas')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .action(async (ref: string, o: { replicas: string; namespace?: string }, cmd: Command) => scaleCommand(ref, o, cmd, ctx));

  const node = program.command('node').description('Change the availability of nodes');
  for (const [action, help] of [
    ['drain', 'move tasks off the node and place nothing new on it'],
    ['pause', 'keep running tasks, place nothing new on the node'],
    ['activate', 'make the node available for tasks again'],
  ] as const) {
    node
      .command(action)
      .description(help)
      .argument('<names...>')
      .action(async (names: string[], _o: unknown, cmd: Command) => nodeAvailability(action, names, cmd, ctx));
  }

  program
    .command('cluster')
    .description('Cluster-wide information')
    .command('info')
    .description('Show the controller, version, leader and node count')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (o: { output?: string }, cmd: Command) => clusterInfo(cmd, ctx, o));

  const config = program.command('config').description('Manage controller contexts in ~/.shoal/config');
  config
    .command('set-context')
    .description('Create or update a context')
    .argument('<name>')
    .option('--server <url>', 'controller URL, e.g. http://127.0.0.1:6443 (required)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      // --server is also a global option; whichever level commander gave it to, it is the context's server.
      const given = (cmd.optsWithGlobals() as { server?: string }).server;
      if (given === undefined) throw errors.invalidArgument('set-context needs --server URL');
      const server = normalizeServer(given);
      const cfg = await loadConfig(ctx.home);
      const existing = cfg.contexts.find((c) => c.name === name);
      if (existing) existing.server = server;
      else cfg.contexts.push({ name, server });
      if (cfg.currentContext === undefined) cfg.currentContext = name;
      await saveConfig(ctx.home, cfg);
      ctx.stdout.write(`context "${name}" ${existing ? 'modified' : 'created'}\n`);
    });
  config
    .command('use-context')
    .description('Make a context the current one')
    .argument('<name>')
    .action(async (name: string) => {
      const cfg = await loadConfig(ctx.home);
      if (!cfg.contexts.some((c) => c.name === name)) throw errors.notFound(`no context named "${name}" in ~/.shoal/config`);
      cfg.currentContext = name;
      await saveConfig(ctx.home, cfg);
      ctx.stdout.write(`switched to context "${name}"\n`);
    });
  config
    .command('get-contexts')
    .description('List contexts')
    .action(async () => {
      const cfg = await loadConfig(ctx.home);
      ctx.stdout.write(formatTable(cfg.contexts, [
        { header: 'CURRENT', value: (c) => (c.name === cfg.currentContext ? '*' : '') },
        { header: 'NAME', value: (c) => c.name },
        { header: 'SERVER', value: (c) => c.server },
      ]));
    });
  config
    .command('view')
    .description('Print the config file')
    .action(async () => {
      ctx.stdout.write(stringify(await loadConfig(ctx.home)));
    });
}
