/**
 * The tables of the cluster commands (`get`, and the task lists of `describe`), kubectl style:
 * one column set per kind, more columns with `-o wide`, a NAMESPACE column across namespaces.
 * Pure: objects in, columns out (`tasksPerNode` is the one lookup, done by the caller).
 */
import {
  formatCpuMillis, humanMemory, isTerminal, parseCpuMillis, parseMemoryBytes,
  type ApiObject, type Config, type Endpoints, type Secret, type Network, type Node, type ResourcePlural, type Service, type Task,
} from '../../api/index.js';
import type { ApiClient } from '../../client/index.js';
import { shortId, type Column } from '../format.js';

/** Short age as kubectl prints it: 5s, 3m, 2h, 4d. */
function shortAge(iso: string | undefined, now: Date = new Date()): string {
  if (!iso) return '<unknown>';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 3600 * 2) return `${Math.floor(s / 60)}m`;
  if (s < 86400 * 2) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A quantity in its canonical spelling (`1500m`, `3Gi`); as given when it does not parse; `-` when absent. */
function quantityText<N>(q: string | undefined, parse: (q: string) => N, format: (n: N) => string): string {
  if (q === undefined) return '-';
  try {
    return format(parse(q));
  } catch {
    return q;
  }
}

export const cpuText = (q: string | undefined): string => quantityText(q, parseCpuMillis, formatCpuMillis);
export const memText = (q: string | undefined): string => quantityText(q, parseMemoryBytes, humanMemory);

export interface TableCtx {
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
    cols.push({ header: 'VIP', value: (s) => s.status?.virtualIP ?? ((s.spec.endpointMode ?? 'vip') === 'dnsrr' ? '<dnsrr>' : '<none>') });
    cols.push({ header: 'NETWORKS', value: (s) => (s.spec.networks ?? []).join(',') || 'default' });
    cols.push({ header: 'PORTS', value: (s) => (s.spec.ports ?? []).map((p) => `*:${p.port}->${p.targetPort}/${(p.protocol ?? 'TCP').toLowerCase()}`).join(',') || '<none>' });
    cols.push({ header: 'CONSTRAINTS', value: (s) => (s.spec.placement?.constraints ?? []).join(',') || '<none>' });
  }
  cols.push({ header: 'AGE', value: (s) => shortAge(s.metadata.creationTimestamp) });
  return withNamespace(cols, t);
}

export function taskColumns(t: TableCtx): Column<Task>[] {
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
    cols.push({ header: 'CONTAINER', value: (k) => shortId(k.status?.containerId ?? '') || '<none>' });
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

function networkColumns(t: TableCtx): Column<Network>[] {
  const cols: Column<Network>[] = [
    { header: 'NAME', value: (n) => n.metadata.name },
    { header: 'LABELS', value: (n) => Object.entries(n.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>' },
    { header: 'AGE', value: (n) => shortAge(n.metadata.creationTimestamp) },
  ];
  return withNamespace(cols, t);
}

function endpointsColumns(t: TableCtx): Column<Endpoints>[] {
  const cols: Column<Endpoints>[] = [
    { header: 'NAME', value: (e) => e.metadata.name },
    { header: 'VIP', value: (e) => e.spec.virtualIP ?? `<${e.spec.endpointMode}>` },
    { header: 'ENDPOINTS', value: (e) => e.spec.addresses.map((a) => a.ip).slice(0, t.wide ? undefined : 3).join(',') + (!t.wide && e.spec.addresses.length > 3 ? ` + ${e.spec.addresses.length - 3} more` : '') || '<none>' },
    { header: 'NETWORKS', value: (e) => e.spec.networks.join(',') },
  ];
  return withNamespace(cols, t);
}

function secretLikeColumns(t: TableCtx): Column<Secret | Config>[] {
  const cols: Column<Secret | Config>[] = [
    { header: 'NAME', value: (s) => s.metadata.name },
    { header: 'VERSION', value: (s) => String(s.metadata.generation ?? 1) },
    { header: 'AGE', value: (s) => shortAge(s.metadata.creationTimestamp) },
  ];
  return withNamespace(cols, t);
}

export function columnsFor(plural: ResourcePlural, t: TableCtx): Column<ApiObject>[] {
  if (plural === 'secrets' || plural === 'configs') return secretLikeColumns(t) as Column<ApiObject>[];
  if (plural === 'services') return serviceColumns(t) as Column<ApiObject>[];
  if (plural === 'tasks') return taskColumns(t) as Column<ApiObject>[];
  if (plural === 'networks') return networkColumns(t) as Column<ApiObject>[];
  if (plural === 'endpoints') return endpointsColumns(t) as Column<ApiObject>[];
  return nodeColumns(t) as Column<ApiObject>[];
}

/** Non-terminal tasks per node, for the TASKS column. */
export async function tasksPerNode(c: ApiClient): Promise<Map<string, number>> {
  const tasks = await c.list<Task>('tasks', { all: true });
  const m = new Map<string, number>();
  for (const t of tasks.items) {
    if (!t.spec.nodeName || isTerminal(t.status?.state ?? 'new')) continue;
    m.set(t.spec.nodeName, (m.get(t.spec.nodeName) ?? 0) + 1);
  }
  return m;
}
