/** The per-kind rules the generic ResourceRegistry applies: validation, status handling, selectable fields. */
import {
  canTransition, errors, validateNode, validateNodeStatus, validateService, validateTask, validateTaskStatus,
  type Node, type Service, type Task,
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
};

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
