/**
 * The node monitor's decision, pure: from what the leader knows of one node (its state, whether
 * its heartbeat lease key exists, the time and the node's grace), what to do next.
 *
 * The rules (docs/orchestrator.md, "Node liveness"):
 *
 * - A lease key present means a controller received a beat within the node timeout: a node
 *   not `ready` becomes `ready`.
 * - A `ready` node without a lease key is `down` only once its grace is over. The grace is one
 *   node timeout (at least the lease TTL) from when this leader began to watch the node: the
 *   start of its term, or the node's creation if later. Until then the node is checked again
 *   when the grace ends. A lease that expires during the grace says nothing: after a
 *   controller restart or a failover the old controller's leases run out while the agents are
 *   reconnecting to the new one, and every such lease has expired by the end of the grace (it
 *   was renewed before the new term began, and its TTL is at most the grace).
 * - After the grace, a missing key means no controller heard the node for a whole node
 *   timeout: `down`.
 * - A node that is not `ready` and has no lease, or that was deleted, has its live tasks
 *   orphaned (the orchestrator replaces them; the agent stops their containers when it is back).
 */
import type { NodeState } from '../../api/index.js';

export interface NodeFacts {
  /** The node's `status.state`; undefined when the Node was deleted. */
  state: NodeState | undefined;
  /** The heartbeat lease key exists. */
  hasLease: boolean;
  /** Epoch ms. */
  now: number;
  /** Epoch ms before which a missing lease does not make the node down (see the file comment). */
  graceUntil: number;
}

export type NodeVerdict =
  /** Write `state: ready`. */
  | { kind: 'ready' }
  /** Write `state: down`, then orphan the node's tasks. */
  | { kind: 'down' }
  /** Orphan the node's live tasks (`removed`: the Node is gone). */
  | { kind: 'orphan'; removed: boolean }
  /** Nothing now; look again in `ms`. */
  | { kind: 'wait'; ms: number }
  | { kind: 'none' };

export function nodeVerdict(f: NodeFacts): NodeVerdict {
  if (f.state === undefined) return { kind: 'orphan', removed: true };
  if (f.hasLease) return f.state === 'ready' ? { kind: 'none' } : { kind: 'ready' };
  if (f.state !== 'ready') return { kind: 'orphan', removed: false };
  if (f.now < f.graceUntil) return { kind: 'wait', ms: f.graceUntil - f.now };
  return { kind: 'down' };
}

/** The grace a leader gives a node it starts watching: the node timeout, at least the lease TTL. */
export function graceMs(nodeTimeoutMs: number, leaseTtlSeconds: number): number {
  return Math.max(nodeTimeoutMs, leaseTtlSeconds * 1000);
}
