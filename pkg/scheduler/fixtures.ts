/** Object builders for tests and the benchmark (not used by production code). */
import { API_VERSION, type Node, type Service, type ServiceSpec, type Task } from '../api/index.js';

export interface NodeFixture {
  name: string;
  uid?: string;
  cpu?: string;
  memory?: string;
  pods?: number;
  labels?: Record<string, string>;
  state?: Node['status']['state'];
  availability?: NonNullable<Node['spec']['availability']>;
}

export function makeNode(f: NodeFixture): Node {
  return {
    apiVersion: API_VERSION,
    kind: 'Node',
    metadata: { name: f.name, ...(f.uid !== undefined ? { uid: f.uid } : {}) },
    spec: { availability: f.availability ?? 'active', ...(f.labels ? { labels: f.labels } : {}) },
    status: {
      state: f.state ?? 'ready',
      allocatable: { cpu: f.cpu ?? '4', memory: f.memory ?? '8Gi', pods: f.pods ?? 110 },
    },
  };
}

export interface TaskFixture {
  service: string;
  namespace?: string;
  name?: string;
  slot?: number;
  generation?: number;
  cpu?: string;
  memory?: string;
  hostPorts?: number[];
  constraints?: string[];
  maxReplicasPerNode?: number;
  nodeName?: string;
  state?: Task['status']['state'];
  desiredState?: Task['spec']['desiredState'];
}

let seq = 0;

export function makeTask(f: TaskFixture): Task {
  const slot = f.slot ?? ++seq;
  const requests: Record<string, string> = {};
  if (f.cpu !== undefined) requests['cpu'] = f.cpu;
  if (f.memory !== undefined) requests['memory'] = f.memory;
  return {
    apiVersion: API_VERSION,
    kind: 'Task',
    metadata: { name: f.name ?? `${f.service}.${slot}.${(++seq).toString(36)}`, namespace: f.namespace ?? 'default' },
    spec: {
      serviceName: f.service,
      serviceGeneration: f.generation ?? 1,
      slot,
      desiredState: f.desiredState ?? 'running',
      template: { spec: { containers: [{ name: 'main', image: 'busybox', resources: { requests } }] } },
      ...(f.nodeName !== undefined ? { nodeName: f.nodeName } : {}),
      ...(f.hostPorts ? { ports: f.hostPorts.map((p) => ({ port: p, targetPort: p, mode: 'host' as const })) } : {}),
      ...(f.constraints !== undefined || f.maxReplicasPerNode !== undefined
        ? { placement: { ...(f.constraints ? { constraints: f.constraints } : {}), ...(f.maxReplicasPerNode !== undefined ? { maxReplicasPerNode: f.maxReplicasPerNode } : {}) } }
        : {}),
    },
    status: { state: f.state ?? 'pending' },
  };
}

export function makeService(name: string, spec: Partial<ServiceSpec> = {}, generation = 1, namespace = 'default'): Service {
  return {
    apiVersion: API_VERSION,
    kind: 'Service',
    metadata: { name, namespace, generation, uid: `uid-${name}` },
    spec: { template: { spec: { containers: [{ name: 'main', image: 'busybox' }] } }, ...spec },
  };
}
