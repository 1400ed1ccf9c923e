/** Builds the new tasks the orchestrator creates: one replica of a service in a slot or on a node. */
import { randomBytes } from 'node:crypto';
import { API_VERSION, TASK_SERVICE_LABEL, type Service, type ServiceSpec, type Task } from '../../api/index.js';


export function randomShortId(): string {
  return randomBytes(5).toString('hex');
}

export interface NewTaskPlace {
  slot?: number;
  /** Global services: the node the task is pinned to. */
  nodeName?: string;
}

export function newTask(service: Service, place: NewTaskPlace, now: number, id: string): Task {
  const ns = service.metadata.namespace ?? 'default';
  const unit = place.nodeName ?? String(place.slot ?? 0);
  const s = service.spec;
  return {
    apiVersion: API_VERSION,
    kind: 'Task',
    metadata: {
      name: `${service.metadata.name}.${unit}.${id}`,
      namespace: ns,
      labels: { ...(s.template.metadata?.labels ?? {}), [TASK_SERVICE_LABEL]: service.metadata.name },
      creationTimestamp: new Date(now).toISOString(),
    },
    spec: {
      serviceName: service.metadata.name,
      ...(service.metadata.uid !== undefined ? { serviceUid: service.metadata.uid } : {}),
      serviceGeneration: service.metadata.generation ?? 1,
      ...(place.slot !== undefined ? { slot: place.slot } : {}),
      ...(place.nodeName !== undefined ? { nodeName: place.nodeName } : {}),
      desiredState: 'running',
      template: s.template,
      ...(s.ports !== undefined ? { ports: s.ports } : {}),
      ...(s.placement !== undefined ? { placement: s.placement } : {}),
      ...(s.restart !== undefined ? { restart: s.restart } : {}),
    },
    status: { state: 'pending', timestamp: new Date(now).toISOString() },
  };
}

/** JSON with sorted object keys, so equal specs give equal strings whatever the key order. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * What a task runs, as a comparable string: the parts of the service spec copied into each
 * task (template, ports, placement, restart). `replicas` is not part of it, so scaling does
 * not roll the existing replicas although it bumps the service's generation.
 */
export function taskSpecKey(spec: Pick<ServiceSpec, 'template' | 'ports' | 'placement' | 'restart'>): string {
  return stableJson({ template: spec.template, ports: spec.ports, placement: spec.placement, restart: spec.restart });
}

const keyCache = new WeakMap<Task, string>();

/** taskSpecKey of a task, cached per task object (informer objects are immutable snapshots). */
export function taskKeyOf(task: Task): string {
  let k = keyCache.get(task);
  if (k === undefined) {
    k = taskSpecKey(task.spec);
    keyCache.set(task, k);
  }
  return k;
}
