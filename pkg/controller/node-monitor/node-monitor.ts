/**
 * The node monitor (leader only). Watches the heartbeat lease keys: a key deleted (its lease
 * expired: no heartbeat for a whole node timeout) marks the node `down` and its non-terminal
 * tasks `orphaned` (the orchestrator then replaces them elsewhere); a key (re)created marks a
 * down node `ready` again. At start, a node marked ready without a lease key gets one node
 * timeout of grace (its agent may beat against the new leader) before it is marked down.
 * Writes are CAS; a conflict re-queues the node. `lastHeartbeat` is written on state changes only.
 */
import { isTerminal, type Node, type Task } from '../../api/index.js';
import { commitInBatches, encodeObject, objectKey, resourcePrefix, storeKeyOf, WorkQueue, type Informer, type TermStore, type TxnOp } from '../../store/index.js';
import { NODE_LEASES_PREFIX, nodeLeaseKey } from '../heartbeat.js';

const NODES_PREFIX = resourcePrefix('nodes');

export interface NodeMonitorOptions {
  /** Where it writes: the leader term's FencedStore (writes only as transactions). */
  store: TermStore;
  nodes: Informer<Node>;
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
  /** Nodes to check again. */
  const queue = new WorkQueue(signal);
  const seenAt = new Map<string, number>();
  const expired = new Set<string>();
  const leaseName = (key: string): string => key.slice(NODE_LEASES_PREFIX.length);
  const nodeName = (key: string): string => key.slice(NODES_PREFIX.length);
  const offs = [
    leases.addHandlers({
      onAdd: (c) => {
        expired.delete(leaseName(c.key));
        queue.add(leaseName(c.key));
      },
      onDelete: (p) => {
        expired.add(leaseName(p.key));
        queue.add(leaseName(p.key));
      },
    }),
    nodes.addHandlers({
      onAdd: (c) => {
        seenAt.set(nodeName(c.key), now());
        queue.add(nodeName(c.key));
      },
      onUpdate: (_p, c) => queue.add(nodeName(c.key)),
      onDelete: (p) => queue.add(nodeName(p.key)),
    }),
  ];
  try {
    await Promise.all([nodes.waitForSync(signal), tasks.waitForSync(signal), leases.waitForSync(signal)]);
    const start = now();
    for (const c of nodes.list()) {
      seenAt.set(nodeName(c.key), start);
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

  async function check(name: string): Promise<void> {
    const cached = nodes.get(objectKey('nodes', undefined, name));
    const hasLease = leases.get(nodeLeaseKey(name)) !== undefined;
    if (cached === undefined) {
      await orphanTasks(name, `node ${name} was removed`);
      return;
    }
    const node = cached.object;
    const iso = new Date(now()).toISOString();
    if (hasLease && node.status.state !== 'ready') {
      await writeNode(node, cached.modRevision, { ...node.status, state: 'ready', message: 'heartbeat received', lastHeartbeat: iso });
      return;
    }
    if (!hasLease && node.status.state === 'ready') {
      const waited = now() - (seenAt.get(name) ?? 0);
      if (!expired.has(name) && waited < opts.nodeTimeoutMs) {
        queue.addAfter(name, opts.nodeTimeoutMs - waited + 10);
        return;
      }
      await writeNode(node, cached.modRevision, { ...node.status, state: 'down', message: `no heartbeat for ${opts.nodeTimeoutMs} ms` });
      return;
    }
    if (node.status.state !== 'ready' && !hasLease) await orphanTasks(name, `node ${name} is ${node.status.state}`);
  }

  async function writeNode(node: Node, modRevision: number, status: Node['status']): Promise<void> {
    const next: Node = { ...node, status };
    const r = await commitInBatches(store, [{ op: 'update', key: objectKey('nodes', undefined, node.metadata.name), value: encodeObject(next), expectModRevision: modRevision }]);
    // Conflict: the informer brings the new version and re-queues the node.
    if (r.conflicts.length === 0 && status.state !== 'ready') await orphanTasks(node.metadata.name, `node ${node.metadata.name} is ${status.state}`);
  }

  async function orphanTasks(name: string, message: string): Promise<void> {
    const iso = new Date(now()).toISOString();
    const ops: TxnOp[] = [];
    for (const c of tasks.list()) {
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
