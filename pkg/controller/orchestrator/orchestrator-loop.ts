/**
 * The orchestrator's thin loop: services, tasks (indexed by service) and nodes come from
 * informers; a changed service (or a change to one of its tasks, or to any node) queues the
 * service; each queued service is reconciled with the pure core and the decisions committed
 * in batched transactions (creates, CAS desiredState updates, CAS deletes), the status with
 * one CAS on the service. After a write the service waits until the informers show that
 * revision (expectations), so a stale cache never creates a task twice.
 */
import { Histogram, register } from 'prom-client';
import { isTerminal, taskServiceRef, type Node, type Service, type Task } from '../../api/index.js';
import { commitInBatches, encodeObject, resourcePrefix, storeKeyOf, TXN_BATCH_OPS, WorkQueue, type BatchCommitResult, type Informer, type TermStore, type TxnOp } from '../../store/index.js';
import { reconcileDeletedService, reconcileService, type ReconcileResult } from './reconcile.js';

export const SERVICE_INDEX = 'service';
const SERVICES_PREFIX = resourcePrefix('services');

/** The tasks informer must be built with this indexer under SERVICE_INDEX. */
export function taskServiceIndex(t: Task): string[] {
  return [taskServiceRef(t)];
}

const reconcileSeconds =
  (register.getSingleMetric('shoal_orchestrator_reconcile_duration_seconds') as Histogram | undefined) ??
  new Histogram({ name: 'shoal_orchestrator_reconcile_duration_seconds', help: 'One service reconcile: decide and commit', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] });

export interface OrchestratorLoopOptions {
  /** Where it writes: the leader term's FencedStore (writes only as transactions). */
  store: TermStore;
  services: Informer<Service>;
  tasks: Informer<Task>;
  nodes: Informer<Node>;
  signal: AbortSignal;
  now?: () => number;
  newId?: () => string;
  onError?: (err: unknown) => void;
  /** Called after each reconcile (tests). */
  onReconcile?: (service: string, r: ReconcileResult) => void;
}

export async function runOrchestratorLoop(opts: OrchestratorLoopOptions): Promise<void> {
  const { store, services, tasks, nodes, signal } = opts;
  const now = opts.now ?? Date.now;
  /** Services (`<ns>/<name>`) to reconcile again. */
  const queue = new WorkQueue(signal);
  /** Services waiting for the informers to show their last write (expectations). */
  const waiting = new Set<string>();
  const expect = new Map<string, { tasks: number; services: number }>();
  const mark = (key: string): void => queue.add(key);
  const release = (): void => {
    for (const k of waiting) queue.add(k);
    waiting.clear();
  };
  const svcKey = (storeKey: string): string => storeKey.slice(SERVICES_PREFIX.length);
  const allServices = (): void => {
    for (const c of services.list()) queue.add(svcKey(c.key));
  };
  const offs = [
    services.addHandlers({ onAdd: (c) => mark(svcKey(c.key)), onUpdate: (_p, c) => mark(svcKey(c.key)), onDelete: (p) => mark(svcKey(p.key)) }),
    tasks.addHandlers({
      onAdd: (c) => mark(taskServiceIndex(c.object)[0] ?? ''),
      onUpdate: (_p, c) => mark(taskServiceIndex(c.object)[0] ?? ''),
      onDelete: (p) => mark(taskServiceIndex(p.object)[0] ?? ''),
    }),
    nodes.addHandlers({ onAdd: allServices, onUpdate: (p, c) => nodeMatters(p.object, c.object) && allServices(), onDelete: allServices }),
  ];
  const offRelease = [services.addHandlers({ onAdd: release, onUpdate: release, onDelete: release }), tasks.addHandlers({ onAdd: release, onUpdate: release, onDelete: release })];
  try {
    await Promise.all([services.waitForSync(signal), tasks.waitForSync(signal), nodes.waitForSync(signal)]);
    allServices();
    for (const k of tasks.indexValues(SERVICE_INDEX)) queue.add(k);
    while (!signal.aborted) {
      await queue.wait();
      if (signal.aborted) break;
      for (const key of queue.take()) {
        if (signal.aborted) break;
        const e = expect.get(key);
        if (e !== undefined && (tasks.revision < e.tasks || services.revision < e.services)) {
          waiting.add(key);
          continue;
        }
        expect.delete(key);
        try {
          await reconcileOne(key);
        } catch (err) {
          opts.onError?.(err);
          requeue(key, now() + 500);
        }
      }
    }
  } finally {
    for (const off of [...offs, ...offRelease]) off();
    queue.close();
  }

  function requeue(key: string, at: number): void {
    queue.addAfter(key, at - now());
  }

  async function reconcileOne(key: string): Promise<void> {
    const end = reconcileSeconds.startTimer();
    const svc = services.get(`${SERVICES_PREFIX}${key}`);
    const own = tasks.byIndex(SERVICE_INDEX, key);
    const rev = new Map(own.map((c) => [c.key, c.modRevision]));
    const list = own.map((c) => c.object);
    const t = now();
    const r = svc !== undefined ? reconcileService(svc.object, list, nodes.list().map((c) => c.object), t, opts.newId ? { newId: opts.newId } : {}) : reconcileDeletedService(list, t);
    const ops: TxnOp[] = [];
    for (const task of r.create) ops.push({ op: 'create', key: storeKeyOf(task), value: encodeObject(task) });
    for (const d of r.shutdown) {
      const k = storeKeyOf(d.task);
      // A replaced terminal task keeps its status (how it ended); a live one says why it stops.
      const status = isTerminal(d.task.status.state) ? d.task.status : { ...d.task.status, message: d.reason };
      const next: Task = { ...d.task, spec: { ...d.task.spec, desiredState: 'shutdown' }, status };
      ops.push({ op: 'update', key: k, value: encodeObject(next), expectModRevision: rev.get(k) ?? 0 });
    }
    for (const task of r.remove) {
      const k = storeKeyOf(task);
      ops.push({ op: 'delete', key: k, expectModRevision: rev.get(k) ?? 0 });
    }
    let written: BatchCommitResult | undefined;
    if (ops.length > 0) written = await commitInBatches(store, ops, TXN_BATCH_OPS, signal);
    let serviceRev = 0;
    // The virtual IP is the service-network loop's field of the status: carried over as it is.
    const vip = svc?.object.status?.virtualIP;
    const status = vip === undefined ? r.status : { ...r.status, virtualIP: vip };
    if (svc !== undefined && JSON.stringify(status) !== JSON.stringify(svc.object.status ?? {})) {
      const next: Service = { ...svc.object, status };
      const s = await commitInBatches(store, [{ op: 'update', key: storeKeyOf(svc.object), value: encodeObject(next), expectModRevision: svc.modRevision }]);
      serviceRev = s.revision;
    }
    if ((written?.revision ?? 0) > 0 || serviceRev > 0) expect.set(key, { tasks: written?.revision ?? 0, services: serviceRev });
    if (written !== undefined && written.conflicts.length > 0) waiting.add(key);
    if (r.requeueAt !== undefined) requeue(key, r.requeueAt);
    end();
    opts.onReconcile?.(key, r);
  }
}

/** Node changes that can change a reconcile: state, availability, labels, presence. */
function nodeMatters(a: Node, b: Node): boolean {
  return a.status.state !== b.status.state || a.spec.availability !== b.spec.availability || JSON.stringify(a.spec.labels ?? {}) !== JSON.stringify(b.spec.labels ?? {});
}
