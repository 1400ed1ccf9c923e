/**
 * A placement filter: a predicate over (request, node) that can explain, for a count of
 * nodes, why they were rejected. `check` returns undefined when the node passes, or a failure
 * key: failures are aggregated per (filter, key), so one filter can report several reasons
 * (e.g. one per unmet constraint).
 *
 * Static filters depend only on the node's fixed attributes and are evaluated once per task
 * group; dynamic filters depend on what is already placed and are re-checked per placement.
 */
import type { NodeInfo, PlacementRequest } from '../node-info.js';

export interface Filter {
  readonly name: string;
  readonly dynamic: boolean;
  check(req: PlacementRequest, node: NodeInfo): string | undefined;
  /** e.g. "insufficient memory on 2 nodes". */
  explain(key: string, count: number): string;
}

export function nodes(count: number): string {
  return count === 1 ? '1 node' : `${count} nodes`;
}
