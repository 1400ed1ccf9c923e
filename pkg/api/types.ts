/**
 * The Shoal object model (DESIGN.md section 3): Kubernetes-shaped objects stored as JSON.
 * Container-level shapes reuse @kubernetes/client-node's types (type-only imports).
 */
import type { V1EnvVar, V1Probe, V1ResourceRequirements, V1VolumeMount } from '@kubernetes/client-node';

export const API_VERSION = 'shoal/v1';
export const API_GROUP_PATH = '/apis/shoal/v1';

export interface ObjectMeta {
  name: string;
  /** Namespaced kinds only; defaults to `default`. */
  namespace?: string;
  uid?: string;
  /** The etcd mod_revision of the object, as a string. */
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface ListMeta {
  resourceVersion: string;
  continue?: string;
}

export interface ContainerPort {
  containerPort: number;
  protocol?: 'TCP' | 'UDP';
  name?: string;
}

/** One container of a task template: a subset of V1Container plus the Docker-level knobs Shoal supports. */
export interface ContainerSpec {
  name: string;
  image: string;
  /** Entrypoint override (Docker ENTRYPOINT). */
  command?: string[];
  /** Arguments (Docker CMD). */
  args?: string[];
  workingDir?: string;
  env?: V1EnvVar[];
  ports?: ContainerPort[];
  /** requests.cpu / requests.memory are used by the scheduler; limits become cgroup limits. */
  resources?: V1ResourceRequirements & { pids?: number };
  volumeMounts?: V1VolumeMount[];
  livenessProbe?: V1Probe;
  readinessProbe?: V1Probe;
  /** `uid[:gid]` or `name[:group]`, resolved in the image. */
  user?: string;
  init?: boolean;
  stopSignal?: string;
  stopGracePeriodSeconds?: number;
}

export interface Volume {
  name: string;
  hostPath?: { path: string; readOnly?: boolean };
  emptyDir?: Record<string, never>;
}

/** A secret a task gets as a file on tmpfs at `/run/secrets/<target or source>` (Swarm's shape). */
export interface SecretReference {
  source: string;
  /** File name under /run/secrets (default: the source's name). */
  target?: string;
  /** File mode (default 0400). */
  mode?: number;
  /** Owner (default: the task's user). */
  uid?: number;
  gid?: number;
}

/** A config a task gets as a read-only file at an absolute path. */
export interface ConfigReference {
  source: string;
  target: string;
  /** File mode (default 0444). */
  mode?: number;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: ContainerSpec[];
    secrets?: SecretReference[];
    configs?: ConfigReference[];
    volumes?: Volume[];
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    /** `bridge` (default), `host`, `none`, or a network name. */
    network?: string;
  };
}

export type ServiceMode = 'replicated' | 'global' | 'job' | 'cron';

export interface ServicePort {
  /** Published port (on the node, or the routing mesh). */
  port: number;
  targetPort: number;
  protocol?: 'TCP' | 'UDP';
  mode?: 'ingress' | 'host';
  name?: string;
}

export interface Placement {
  /** e.g. `node.labels.zone==a`, `node.name!=n3`. */
  constraints?: string[];
  maxReplicasPerNode?: number;
  spread?: string;
}

export interface UpdateConfig {
  parallelism?: number;
  delay?: string;
  order?: 'stop-first' | 'start-first';
  failureAction?: 'pause' | 'rollback' | 'continue';
  monitor?: string;
}

export interface RestartPolicy {
  condition?: 'any' | 'on-failure' | 'none';
  /** Duration string, e.g. `5s`. */
  delay?: string;
  /** 0 or absent = unlimited. */
  maxAttempts?: number;
  window?: string;
}

export interface ServiceSpec {
  mode?: ServiceMode;
  replicas?: number;
  template: PodTemplate;
  ports?: ServicePort[];
  placement?: Placement;
  update?: UpdateConfig;
  restart?: RestartPolicy;
  /** Cron expression, for `mode: cron`. */
  schedule?: string;
  /**
   * Networks (names of Network objects in the service's namespace) the service's tasks join;
   * absent or empty: the namespace's `default` network, which always exists. Two tasks can
   * talk only if their services share a network (DESIGN.md section 7).
   */
  networks?: string[];
  /** `vip` (default): one virtual IP balanced over the running tasks; `dnsrr`: DNS answers the task IPs. */
  endpointMode?: EndpointMode;
}

export type EndpointMode = 'vip' | 'dnsrr';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface ServiceStatus {
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  observedGeneration?: number;
  conditions?: Condition[];
  /** The service's virtual IP out of `--service-cidr`, allocated once by the controller (vip mode, replicated and global services). */
  virtualIP?: string;
}

export interface Service {
  apiVersion: typeof API_VERSION;
  kind: 'Service';
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status?: ServiceStatus;
}

/** Task states only move forward, in this order. */
export const TASK_STATES = [
  'new', 'pending', 'assigned', 'accepted', 'preparing', 'starting', 'running',
  'complete', 'failed', 'shutdown', 'rejected', 'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const TERMINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned']);

export function taskStateIndex(s: TaskState): number {
  return TASK_STATES.indexOf(s);
}
export function isTerminal(s: TaskState): boolean {
  return TERMINAL_TASK_STATES.has(s);
}
/** True when moving from `from` to `to` respects "states only move forward" (terminal states are final). */
export function canTransition(from: TaskState, to: TaskState): boolean {
  if (isTerminal(from)) return from === to;
  return taskStateIndex(to) >= taskStateIndex(from);
}

export interface TaskSpec {
  serviceName: string;
  serviceUid?: string;
  serviceGeneration: number;
  /** Replicated: 1..N. Global tasks have no slot (they are keyed by node). */
  slot?: number;
  nodeName?: string;
  desiredState: 'running' | 'shutdown';
  template: PodTemplate;
  ports?: ServicePort[];
  placement?: Placement;
  restart?: RestartPolicy;
}

export interface TaskStatus {
  state: TaskState;
  message?: string;
  /** Human-readable reason a task is pending ("no node fits: ..."). */
  reason?: string;
  containerId?: string;
  ip?: string;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** When the state last changed (ISO time). */
  timestamp?: string;
  health?: 'starting' | 'healthy' | 'unhealthy';
  /** Image pull progress, while preparing. */
  progress?: { current: number; total: number };
}

export interface Task {
  apiVersion: typeof API_VERSION;
  kind: 'Task';
  metadata: ObjectMeta;
  spec: TaskSpec;
  status: TaskStatus;
}

export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'ready' | 'down' | 'unknown';

export interface Resources {
  /** CPU in cores as a Kubernetes quantity string (`2`, `500m`). */
  cpu: string;
  /** Memory as a quantity string (`8Gi`). */
  memory: string;
  pods: number;
}

export interface NodeSpec {
  availability?: NodeAvailability;
  labels?: Record<string, string>;
  podCIDR?: string;
}

export interface NodeStatus {
  state: NodeState;
  message?: string;
  addresses?: { type: 'InternalIP' | 'Hostname'; address: string }[];
  capacity?: Resources;
  allocatable?: Resources;
  lastHeartbeat?: string;
  info?: { kernel?: string; os?: string; arch?: string; cgroupVersion?: 1 | 2; agentVersion?: string };
  /** The node's VXLAN tunnel endpoint, published by its agent; the other nodes program routes, neighbours and FDB entries from it. */
  overlay?: NodeOverlay;
}

export interface NodeOverlay {
  /** The VXLAN device's MAC address (`aa:bb:cc:dd:ee:ff`, lower case). */
  vtepMAC: string;
  /** The underlay IPv4 address other nodes send encapsulated packets to. */
  address: string;
  /** The VXLAN UDP port (`--vxlan-port`, default 4789). */
  port: number;
}

export interface Node {
  apiVersion: typeof API_VERSION;
  kind: 'Node';
  metadata: ObjectMeta;
  spec: NodeSpec;
  status: NodeStatus;
}

/** A network services join (namespaced). `default` exists in every namespace without an object. */
export interface Network {
  apiVersion: typeof API_VERSION;
  kind: 'Network';
  metadata: ObjectMeta;
  spec: { labels?: Record<string, string> };
  status?: Record<string, never>;
}

/**
 * A secret value (namespaced): `data` is base64 (at most 500 KB decoded), stored encrypted
 * with the cluster's key, never returned but to an admin asking `?reveal=1`, and sent only to
 * a node that runs a task referencing it. A change rolls the services that use it.
 */
export interface Secret {
  apiVersion: typeof API_VERSION;
  kind: 'Secret';
  metadata: ObjectMeta;
  data?: string;
  spec?: undefined;
  status?: Record<string, never>;
}

/** A configuration file (namespaced): `data` is base64, not secret. A change rolls its services. */
export interface Config {
  apiVersion: typeof API_VERSION;
  kind: 'Config';
  metadata: ObjectMeta;
  data?: string;
  spec?: undefined;
  status?: Record<string, never>;
}

/** One running task behind a service. */
export interface EndpointAddress {
  ip: string;
  /** The task's name (DNS answers it). */
  taskName: string;
  nodeName: string;
}

/**
 * What every node needs to route to one service, written by the controller's endpoints loop
 * (one object per replicated or global service, same namespace and name): agents watch these
 * and the Nodes, not every task of the cluster (Kubernetes' Endpoints, for the same reason).
 */
export interface Endpoints {
  apiVersion: typeof API_VERSION;
  kind: 'Endpoints';
  metadata: ObjectMeta;
  spec: {
    serviceUid?: string;
    endpointMode: EndpointMode;
    /** The service's virtual IP (vip mode, once allocated). */
    virtualIP?: string;
    /** Network names in the service's namespace (at least `default`), sorted. */
    networks: string[];
    /** The service's `mode: ingress` published ports (the routing mesh). */
    ingress: { protocol: 'TCP' | 'UDP'; port: number; targetPort: number }[];
    /** Running tasks (desired running, reported running, with an address), sorted by ip. */
    addresses: EndpointAddress[];
  };
  status?: Record<string, never>;
}

export type ApiObject = Service | Task | Node | Network | Endpoints | Secret | Config;
export type Kind = ApiObject['kind'];

export interface List<T> {
  apiVersion: typeof API_VERSION;
  kind: string;
  metadata: ListMeta;
  items: T[];
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Resource descriptors: plural, kind, scope. */
export const RESOURCES = {
  services: { kind: 'Service', plural: 'services', namespaced: true },
  tasks: { kind: 'Task', plural: 'tasks', namespaced: true },
  nodes: { kind: 'Node', plural: 'nodes', namespaced: false },
  networks: { kind: 'Network', plural: 'networks', namespaced: true },
  endpoints: { kind: 'Endpoints', plural: 'endpoints', namespaced: true },
  secrets: { kind: 'Secret', plural: 'secrets', namespaced: true },
  configs: { kind: 'Config', plural: 'configs', namespaced: true },
} as const;
export type ResourcePlural = keyof typeof RESOURCES;
