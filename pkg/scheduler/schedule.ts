/**
 * Pure placement. Tasks are grouped by (service, generation): a group shares one placement
 * request, so static filters (ready, availability, constraints) run once per node per group,
 * and the eligible nodes go into a min-heap ordered by the spread score (fewest tasks of the
 * same service, then fewest tasks in total, then name). Each placement pops the best node,
 * re-checks the dynamic filters (resources, host ports, max replicas) and either places the
 * task (the node's key grows: one sift-down) or drops the node for the rest of the group
 * (within a group usage only grows, so a node that failed stays failed). Cost per group:
 * O(nodes + tasks·log nodes), never O(nodes × tasks).
 *
 * Tasks with `spec.nodeName` already set (global services) are checked against that node only.
 * `schedule` updates the given NodeInfos with its placements, so a caller can keep them as
 * its running view of the cluster.
 */
import { taskServiceRef, type Task } from '../api/index.js';
import { DEFAULT_FILTERS, type Filter } from './filters/index.js';
import { MinHeap } from './heap.js';
import { addTask, requestOf, type NodeInfo, type PlacementRequest } from './node-info.js';

export interface Assignment {
  task: Task;
  nodeName: string;
}

export interface Unschedulable {
  task: Task;
  /** "no node fits: insufficient memory on 2 nodes; constraint node.labels.zone==b not met on 1 node" */
  reason: string;
}

export interface ScheduleResult {
  assignments: Assignment[];
  unschedulable: Unschedulable[];
}

export interface ScheduleOptions {
  filters?: readonly Filter[];
}

/** Failure counts per (filter, key), in filter order, turned into one message. */
class Explainer {
  private readonly counts = new Map<Filter, Map<string, number>>();

  add(f: Filter, key: string): void {
    let m = this.counts.get(f);
    if (m === undefined) this.counts.set(f, (m = new Map()));
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  message(filters: readonly Filter[], totalNodes: number): string {
    if (totalNodes === 0) return 'no node fits: no nodes in the cluster';
    const parts: string[] = [];
    for (const f of filters) for (const [key, n] of this.counts.get(f) ?? []) parts.push(f.explain(key, n));
    return `no node fits: ${parts.length > 0 ? parts.join('; ') : 'no eligible node'}`;
  }
}

export function schedule(pending: readonly Task[], nodes: Map<string, NodeInfo>, opts: ScheduleOptions = {}): ScheduleResult {
  const filters = opts.filters ?? DEFAULT_FILTERS;
  const staticFilters = filters.filter((f) => !f.dynamic);
  const dynamicFilters = filters.filter((f) => f.dynamic);
  const result: ScheduleResult = { assignments: [], unschedulable: [] };

  const groups = new Map<string, Task[]>();
  for (const t of pending) {
    if (t.spec.nodeName !== undefined && t.spec.nodeName !== '') {
      placePinned(t, nodes, filters, result);
      continue;
    }
    const key = `${taskServiceRef(t)}|${t.spec.serviceGeneration}`;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = []));
    g.push(t);
  }

  for (const group of groups.values()) {
    const req = requestOf(group[0] as Task);
    const explainer = new Explainer();
    const eligible: NodeInfo[] = [];
    for (const node of nodes.values()) {
      const failed = firstFailure(staticFilters, req, node);
      if (failed === undefined) eligible.push(node);
      else explainer.add(failed.filter, failed.key);
    }
    const heap = new MinHeap(eligible, spreadLess(req.serviceKey));
    let reason: string | undefined;
    for (const task of group) {
      if (reason === undefined) {
        const node = nextFit(heap, dynamicFilters, req, explainer);
        if (node !== undefined) {
          addTask(node, req);
          heap.updateTop();
          result.assignments.push({ task, nodeName: node.name });
          continue;
        }
        reason = explainer.message(filters, nodes.size);
      }
      result.unschedulable.push({ task, reason });
    }
  }
  return result;
}

/** The best node that passes the dynamic filters (left on top of the heap), dropping those that fail. */
function nextFit(heap: MinHeap<NodeInfo>, dynamicFilters: readonly Filter[], req: PlacementRequest, explainer: Explainer): NodeInfo | undefined {
  for (;;) {
    const node = heap.peek();
    if (node === undefined) return undefined;
    const failed = firstFailure(dynamicFilters, req, node);
    if (failed === undefined) return node;
    explainer.add(failed.filter, failed.key);
    heap.pop();
  }
}

function placePinned(task: Task, nodes: Map<string, NodeInfo>, filters: readonly Filter[], result: ScheduleResult): void {
  const name = task.spec.nodeName ?? '';
  const node = nodes.get(name);
  if (node === undefined) {
    result.unschedulable.push({ task, reason: `no node fits: node ${name} does not exist` });
    return;
  }
  const req = requestOf(task);
  const failed = firstFailure(filters, req, node);
  if (failed !== undefined) {
    result.unschedulable.push({ task, reason: `no node fits: ${failed.filter.explain(failed.key, 1)} (${name})` });
    return;
  }
  addTask(node, req);
  result.assignments.push({ task, nodeName: name });
}

function firstFailure(filters: readonly Filter[], req: PlacementRequest, node: NodeInfo): { filter: Filter; key: string } | undefined {
  for (const filter of filters) {
    const key = filter.check(req, node);
    if (key !== undefined) return { filter, key };
  }
  return undefined;
}

/** Spread: fewest tasks of this service, then fewest tasks in total, then by name (deterministic). */
export function spreadLess(serviceKey: string): (a: NodeInfo, b: NodeInfo) => boolean {
  return (a, b) => {
    const sa = a.perService.get(serviceKey) ?? 0;
    const sb = b.perService.get(serviceKey) ?? 0;
    if (sa !== sb) return sa < sb;
    if (a.taskCount !== b.taskCount) return a.taskCount < b.taskCount;
    return a.name < b.name;
  };
}
