/**
 * The node monitor (leader only), the shell around `nodeVerdict`: it watches the heartbeat
 * lease keys and the Nodes, and for each node that changed (or whose grace ran out) asks the
 * pure verdict what to do and does it: `ready` or `down` (CAS on the Node), and orphaning the
 * live tasks of a node that is not ready or was deleted (CAS per task, batched). A conflict
 * re-queues the node. `lastHeartbeat` is written on state changes only (never per beat).
 *
 * Every node gets one grace (node-verdict.ts) from when this leader starts watching it: the
 * term's start for the nodes listed then, the node's creation for later ones. A lease that
 * expires within it (the last controller's, during a restart or failover) is not a death.
 */
import { isTerminal, type Node, type Task } from '../../api/index.js';
import { commitInBatches, encodeObject, objectKey, resourcePrefix, storeKeyOf, WorkQueue, type Informer, type TermStore, type TxnOp } from '../../store/index.js';
import { leaseTtlSeconds, NODE_LEASES_PREFIX, nodeLeaseKey } from '../heartbeat.js';
import { graceMs, nodeVerdict } from './node-verdict.js';

const NODES_PREFIX = resourcePrefix('nodes');

/** The tasks informer must be built with this indexer under NODE_INDEX (tasks by node, for orphaning). */
export const NODE_INDEX = 'node';
export function taskNodeIndex(t: Task): string[] {
  return t.spec.nodeName !== undefined && t.spec.nodeName !== '' ? [t.spec.nodeName] : [];
}

export interface NodeMonitorOptions {
  /** Where it writes: the leader term's FencedStore (writes only as transactions). */
  store: TermStore;
  nodes: Informer<Node>;
  /** Indexed by NODE_INDEX (taskNodeIndex). */
  tasks: Informer<Task>;
  /** Informer over NODE_LEASES_PREFIX (values are opaque). */
  leases: Informer<unknown>;
  nodeTimeoutMs: number;
  signal: AbortSignal;
  now?: () => number;
  onError?: (err: unknown) => void;
}

export async function runNodeMonitor(opts: NodeMonitorOptions): Promise<void> {
  const { store, nodes, tasks, leases, signal } = opts;
  const now = opts.now ?? Date.now;
  const grace = graceMs(opts.nodeTimeoutMs, leaseTtlSeconds(opts.nodeTimeoutMs));
  /** Nodes to check again. */
  const queue = new WorkQueue(signal);
  /** Per node: epoch ms before which a missing lease does not make it down. */
  const graceUntil = new Map<string, number>();
  const leaseName = (key: string): string => key.slice(NODE_LEASES_PREFIX.length);
  const nodeName = (key: string): string => key.slice(NODES_PREFIX.length);
  const offs = [
    leases.addHandlers({ onAdd: (c) => queue.add(leaseName(c.key)), onDelete: (p) => queue.add(leaseName(p.key)) }),
    nodes.addHandlers({
      onAdd: (c) => {
        graceUntil.set(nodeName(c.key), now() + grace);
        queue.add(nodeName(c.key));
      },
      onUpdate: (_p, c) => queue.add(nodeName(c.key)),
      onDelete: (p) => {
        graceUntil.delete(nodeName(p.key));
        queue.add(nodeName(p.key));
      },
    }),
  ];
  try {
    await Promise.all([nodes.waitForSync(signal), tasks.waitForSync(signal), leases.waitForSync(signal)]);
    // The term starts: every node known now is watched from now.
    const start = now();
    for (const c of nodes.list()) {
      graceUntil.set(nodeName(c.key), start + grace);
      queue.add(nodeName(c.key));
    }
    while (!signal.aborted) {
      await queue.wait();
      if (signal.aborted) break;
      for (const name of queue.take()) {
        try {
          await check(name);
        } catch (err) {
          opts.onError?.(err);
          queue.addAfter(name, 200);
        }
      }
    }
  } finally {
    for (const off of offs) off();
    queue.close();
  }

  /** Asks the verdict about one node and carries it out. */
  async function check(name: string): Promise<void> {
    const cached = nodes.get(objectKey('nodes', undefined, name));
    const t = now();
    const v = nodeVerdict({ state: cached?.object.status.state, hasLease: leases.get(nodeLeaseKey(name)) !== undefined, now: t, graceUntil: graceUntil.get(name) ?? t });
    switch (v.kind) {
      case 'none':
        return;
      case 'wait':
        // A little after the grace ends, so that check sees it over.
        queue.addAfter(name, v.ms + 10);
        return;
      case 'orphan':
        await orphanTasks(name, v.removed ? `node ${name} was removed` : `node ${name} is ${cached?.object.status.state ?? 'gone'}`);
        return;
    }
    if (cached === undefined) return;
    const node = cached.object;
    const status: Node['status'] =
      v.kind === 'ready'
        ? { ...node.status, state: 'ready', message: 'heartbeat received', lastHeartbeat: new Date(t).toISOString() }
        : { ...node.status, state: 'down', message: `no heartbeat for ${opts.nodeTimeoutMs} ms` };
    await writeNode(node, cached.modRevision, status);
  }

  async function writeNode(node: Node, modRevision: number, status: Node['status']): Promise<void> {
    const next: Node = { ...node, status };
    const r = await commitInBatches(store, [{ op: 'update', key: objectKey('nodes', undefined, node.metadata.name), value: encodeObject(next), expectModRevision: modRevision }]);
    // Conflict: the informer brings the new version and re-queues the node.
    if (r.conflicts.length === 0 && status.state !== 'ready') await orphanTasks(node.metadata.name, `node ${node.metadata.name} is ${status.state}`);
  }

  /** Marks the node's live tasks orphaned (found through the tasks informer's node index). */
  async function orphanTasks(name: string, message: string): Promise<void> {
    const iso = new Date(now()).toISOString();
    const ops: TxnOp[] = [];
    for (const c of tasks.byIndex(NODE_INDEX, name)) {
      const t = c.object;
      if (t.spec.nodeName !== name || isTerminal(t.status.state)) continue;
      const next: Task = { ...t, status: { ...t.status, state: 'orphaned', message, timestamp: iso } };
      ops.push({ op: 'update', key: storeKeyOf(t), value: encodeObject(next), expectModRevision: c.modRevision });
    }
    if (ops.length === 0) return;
    const r = await commitInBatches(store, ops);
    if (r.conflicts.length > 0) queue.addAfter(name, 100);
  }
}
