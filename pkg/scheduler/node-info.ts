/**
 * NodeInfo: the scheduler's view of one node (fixed attributes plus what is already placed on
 * it), and PlacementRequest: what one group of identical tasks needs. Both are plain data
 * built once per scheduling round; `schedule` updates NodeInfos as it places tasks.
 */
import { constraintTargetOf, isTerminal, parseConstraints, taskServiceRef, type Constraint, type ConstraintTarget, type Node, type Task } from '../api/index.js';
import { cpuMillis, memoryBytes } from './quantity.js';

export interface NodeInfo {
  name: string;
  ready: boolean;
  availability: 'active' | 'pause' | 'drain';
  labels: Readonly<Record<string, string>>;
  /** What placement constraints look at (name, id, hostname, role, platform, labels). */
  target: ConstraintTarget;
  /** Allocatable CPU (millicores), memory (bytes), task slots; Infinity when the node reports none. */
  allocCpu: number;
  allocMemory: number;
  allocPods: number;
  usedCpu: number;
  usedMemory: number;
  /** Non-terminal tasks placed on the node. */
  taskCount: number;
  /** Non-terminal tasks per service key (`<ns>/<service>`). */
  perService: Map<string, number>;
  /** `<protocol>/<port>` of host-mode published ports in use. */
  hostPorts: Set<string>;
}

export interface PlacementRequest {
  /** `<ns>/<service>`: the spread and maxReplicasPerNode key. */
  serviceKey: string;
  cpu: number;
  memory: number;
  hostPorts: string[];
  constraints: Constraint[];
  /** 0 = unlimited. */
  maxReplicasPerNode: number;
}

export function requestOf(task: Task): PlacementRequest {
  let cpu = 0;
  let memory = 0;
  for (const c of task.spec.template.spec.containers) {
    const req = c.resources?.requests as Record<string, string | number | undefined> | undefined;
    cpu += safe(() => cpuMillis(req?.['cpu']));
    memory += safe(() => memoryBytes(req?.['memory']));
  }
  const hostPorts = (task.spec.ports ?? []).filter((p) => p.mode === 'host').map((p) => `${(p.protocol ?? 'TCP').toLowerCase()}/${p.port}`);
  return {
    serviceKey: taskServiceRef(task),
    cpu,
    memory,
    hostPorts,
    constraints: parseConstraints(task.spec.placement?.constraints),
    maxReplicasPerNode: task.spec.placement?.maxReplicasPerNode ?? 0,
  };
}

/** Builds the NodeInfo of one node without any tasks. */
export function nodeInfoOf(node: Node): NodeInfo {
  const alloc = node.status.allocatable ?? node.status.capacity;
  return {
    name: node.metadata.name,
    ready: node.status.state === 'ready',
    availability: node.spec.availability ?? 'active',
    labels: node.spec.labels ?? {},
    target: constraintTargetOf(node),
    allocCpu: alloc === undefined ? Infinity : safe(() => cpuMillis(alloc.cpu), Infinity),
    allocMemory: alloc === undefined ? Infinity : safe(() => memoryBytes(alloc.memory), Infinity),
    allocPods: alloc?.pods !== undefined && alloc.pods > 0 ? alloc.pods : Infinity,
    usedCpu: 0,
    usedMemory: 0,
    taskCount: 0,
    perService: new Map(),
    hostPorts: new Set(),
  };
}

/** Accounts `task` (placed on `info`) in the node's usage. */
export function addTask(info: NodeInfo, req: PlacementRequest): void {
  info.usedCpu += req.cpu;
  info.usedMemory += req.memory;
  info.taskCount++;
  info.perService.set(req.serviceKey, (info.perService.get(req.serviceKey) ?? 0) + 1);
  for (const p of req.hostPorts) info.hostPorts.add(p);
}

/** True when the task occupies resources on its node (placed and not terminal). */
export function occupies(task: Task): boolean {
  return task.spec.nodeName !== undefined && task.spec.nodeName !== '' && !isTerminal(task.status.state);
}

/** NodeInfos for `nodes` with every occupying task of `tasks` accounted. */
export function buildNodeInfos(nodes: readonly Node[], tasks: Iterable<Task>): Map<string, NodeInfo> {
  const infos = new Map<string, NodeInfo>();
  for (const n of nodes) infos.set(n.metadata.name, nodeInfoOf(n));
  // Tasks of one service generation share their template (the same assumption `schedule`
  // makes when it groups them), so their request is parsed once, not once per task.
  const requests = new Map<string, PlacementRequest>();
  for (const t of tasks) {
    if (!occupies(t)) continue;
    const info = infos.get(t.spec.nodeName ?? '');
    if (info === undefined) continue;
    const gk = `${taskServiceRef(t)}|${t.spec.serviceGeneration}`;
    let req = requests.get(gk);
    if (req === undefined) requests.set(gk, (req = requestOf(t)));
    addTask(info, req);
  }
  return infos;
}

function safe(fn: () => number, fallback = 0): number {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
