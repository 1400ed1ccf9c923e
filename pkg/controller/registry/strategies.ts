/** The per-kind rules the generic ResourceRegistry applies: validation, status handling, selectable fields. */
import {
  canTransition, errors, namespacedName, validateNode, validateNodeStatus, validateService, validateTask, validateTaskStatus,
  type FieldCause, type Node, type Service, type Task,
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
