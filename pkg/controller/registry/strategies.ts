/** The per-kind rules the generic ResourceRegistry applies: validation, status handling, selectable fields. */
import {
  canTransition, DEFAULT_NETWORK, errors, namespacedName, validateNetwork, validateNode, validateNodeStatus, validateService, validateTask, validateTaskStatus,
  type Endpoints, type FieldCause, type Network, type Node, type Service, type Task,
} from '../../api/index.js';
import type { ResourceStrategy } from './resource.js';

export const serviceStrategy: ResourceStrategy<Service> = {
  plural: 'services',
  kind: 'Service',
  namespaced: true,
  validate: validateService,
  // Service status is written by the orchestrator; its shape is loose but must be an object.
  validateStatus: (s) => (s !== null && typeof s === 'object' && !Array.isArray(s) ? [] : [{ field: 'status', reason: 'FieldValueInvalid', message: 'must be an object' }]),
  statusOnCreate: false,
  initialStatus: () => ({}),
  fieldSelectors: ['spec.mode'],
  // Only services that publish ports pay for the list of the others.
  admit: async (next, others) => ((next.spec.ports ?? []).length === 0 ? [] : publishedPortConflicts(next, await others())),
};

/**
 * An ingress port is the node's, on every node (Swarm's rule): no other service may publish
 * it, in ingress or host mode. Two services may share a host-mode port; the scheduler keeps
 * their tasks on different nodes.
 */
export function publishedPortConflicts(svc: Service, all: readonly Service[]): FieldCause[] {
  const ports = svc.spec.ports ?? [];
  if (ports.length === 0) return [];
  const id = (s: Service): string => namespacedName(s.metadata.namespace, s.metadata.name);
  const me = id(svc);
  const taken = new Map<string, { svc: Service; mode: 'ingress' | 'host' }>();
  for (const o of all) {
    if (id(o) === me) continue;
    for (const p of o.spec.ports ?? []) {
      const key = `${p.protocol ?? 'TCP'}/${p.port}`;
      const mode = p.mode ?? 'ingress';
      if (!taken.has(key) || mode === 'ingress') taken.set(key, { svc: o, mode });
    }
  }
  const causes: FieldCause[] = [];
  ports.forEach((p, i) => {
    const t = taken.get(`${p.protocol ?? 'TCP'}/${p.port}`);
    if (t === undefined || ((p.mode ?? 'ingress') === 'host' && t.mode === 'host')) return;
    causes.push({
      field: `spec.ports[${i}].port`,
      reason: 'FieldValueDuplicate',
      message: `port ${p.port}/${(p.protocol ?? 'TCP').toLowerCase()} is already published by service ${id(t.svc)} (${t.mode} mode)`,
    });
  });
  return causes;
}

export const taskStrategy: ResourceStrategy<Task> = {
  plural: 'tasks',
  kind: 'Task',
  namespaced: true,
  validate: (o) => validateTask(o),
  validateStatus: (s) => validateTaskStatus(s),
  statusOnCreate: true,
  initialStatus: () => ({ state: 'new' }),
  fieldSelectors: ['spec.nodeName', 'spec.serviceName', 'spec.desiredState', 'spec.slot', 'status.state'],
  checkStatusUpdate(prev, next) {
    const from = prev.status?.state ?? 'new';
    const to = next.status.state;
    if (!canTransition(from, to)) {
      throw errors.invalid(`Task "${prev.metadata.name}" is invalid: status.state cannot move from ${from} to ${to}: task states only move forward and terminal states are final`, [
        { field: 'status.state', reason: 'FieldValueForbidden', message: `cannot move from ${from} to ${to}` },
      ], { kind: 'Task', name: prev.metadata.name });
    }
  },
};

export const nodeStrategy: ResourceStrategy<Node> = {
  plural: 'nodes',
  kind: 'Node',
  namespaced: false,
  validate: (o) => validateNode(o),
  validateStatus: (s) => validateNodeStatus(s),
  statusOnCreate: true,
  initialStatus: () => ({ state: 'unknown' }),
  fieldSelectors: ['spec.availability', 'status.state'],
};

const noStatus = (s: unknown): FieldCause[] =>
  s === undefined || (s !== null && typeof s === 'object' && !Array.isArray(s) && Object.keys(s).length === 0)
    ? []
    : [{ field: 'status', reason: 'FieldValueForbidden', message: 'has no fields' }];

/**
 * Networks: `checkDelete` is given by the Registry (it needs the services). `default` is never
 * an object (validation refuses the name).
 */
export const networkStrategy: ResourceStrategy<Network> = {
  plural: 'networks',
  kind: 'Network',
  namespaced: true,
  validate: validateNetwork,
  validateStatus: noStatus,
  statusOnCreate: false,
  initialStatus: () => ({}),
  fieldSelectors: [],
};

/** Endpoints: written by the controller's endpoints loop straight to the store; clients read them. */
export const endpointsStrategy: ResourceStrategy<Endpoints> = {
  plural: 'endpoints',
  kind: 'Endpoints',
  namespaced: true,
  validate: () => [],
  validateStatus: noStatus,
  statusOnCreate: false,
  initialStatus: () => ({}),
  fieldSelectors: [],
  clientWritable: false,
};

/** The networks a service lists that do not exist in its namespace (`default` always does). */
export function missingNetworks(svc: Service, exists: (namespace: string, name: string) => Promise<boolean>): Promise<FieldCause[]> {
  const ns = svc.metadata.namespace ?? 'default';
  return Promise.all(
    (svc.spec.networks ?? []).map(async (n, i): Promise<FieldCause | undefined> =>
      n === DEFAULT_NETWORK || (await exists(ns, n))
        ? undefined
        : { field: `spec.networks[${i}]`, reason: 'FieldValueNotFound', message: `network ${n} does not exist in namespace ${ns} (create it first: shoalctl create network ${n}${ns === 'default' ? '' : ` -n ${ns}`})` }),
  ).then((cs) => cs.filter((c): c is FieldCause => c !== undefined));
}

/** A network that services list cannot go: 409 naming them. */
export function networkInUse(net: Network, services: readonly Service[]): void {
  const ns = net.metadata.namespace ?? 'default';
  const users = services
    .filter((s) => (s.metadata.namespace ?? 'default') === ns && (s.spec.networks ?? []).includes(net.metadata.name))
    .map((s) => s.metadata.name);
  if (users.length > 0) {
    throw errors.failedPrecondition(`network ${net.metadata.name} is in use by service${users.length > 1 ? 's' : ''} ${users.slice(0, 10).join(', ')}${users.length > 10 ? ` and ${users.length - 10} more` : ''}: remove it from their spec.networks or delete them first`);
  }
}
