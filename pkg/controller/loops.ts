/**
 * Wiring of the leader-only control loops: campaign for leadership; while leader, build
 * fresh informers (list, then watch: a new leader resyncs from the store) and run the
 * orchestrator, the scheduler, the node monitor and podCIDR allocation until the term ends.
 *
 * Fencing: the loops read through the store but write only through the term's FencedStore,
 * so every transaction they send checks the term's election key. The first one that finds
 * it gone ends the term (the elector campaigns again); what the loops had pending is refused
 * by the store, however long this process was frozen before sending it.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Endpoints, Node, Service, Task } from '../api/index.js';
import { runSchedulerLoop } from '../scheduler/index.js';
import { decodeObject, FencedStore, Informer, resourcePrefix, type Fence, type Store } from '../store/index.js';
import { leaseTtlSeconds, NODE_LEASES_PREFIX } from './heartbeat.js';
import { LeaderElector } from './leader.js';
import { NODE_INDEX, runNodeMonitor, taskNodeIndex } from './node-monitor/index.js';
import { runOrchestratorLoop, SERVICE_INDEX, taskServiceIndex } from './orchestrator/index.js';
import { podCidrStep } from './pod-cidr.js';
import { runServiceNetworkLoop } from './service-network/index.js';

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';

export interface ControlLoopsOptions {
  store: Store;
  /** The typed registry (unused for now: the loops talk to the store directly). */
  registry?: unknown;
  clusterCidr: string;
  /** Virtual IPs of services (default 10.96.0.0/16). */
  serviceCidr?: string;
  nodeTimeoutMs: number;
  /** While leading, task and node state gauges are computed from this term's informers. */
  metrics?: { setStateSources(sources: { tasks?: () => Iterable<[string, number]>; nodes?: () => Iterable<[string, number]> }): void };
  signal: AbortSignal;
  /** Default: a random id. */
  controllerId?: string;
  /** Leader lease TTL. Default: the node timeout's (min 2 s). */
  leaderTtlSeconds?: number;
  onError?: (err: unknown) => void;
  onEvent?: (e: { type: string; message?: string }) => void;
}

export interface ControlLoops {
  readonly controllerId: string;
  isLeader(): boolean;
  leaderId(): Promise<string | undefined>;
  /** Settles when the signal fired and every loop stopped (resigned). */
  readonly done: Promise<void>;
}

export function runControlLoops(opts: ControlLoopsOptions): ControlLoops {
  const controllerId = opts.controllerId ?? `controller-${randomBytes(4).toString('hex')}`;
  const elector = new LeaderElector({
    store: opts.store,
    id: controllerId,
    ttlSeconds: opts.leaderTtlSeconds ?? leaseTtlSeconds(opts.nodeTimeoutMs),
    lead: (signal, fence) => lead(opts, signal, fence),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });
  const done = elector.run(opts.signal);
  return { controllerId, isLeader: () => elector.isLeader(), leaderId: () => elector.leaderId(), done };
}

/** One leadership term. */
async function lead(opts: ControlLoopsOptions, signal: AbortSignal, fence: Fence): Promise<void> {
  const { store } = opts;
  const onError = (err: unknown): void => opts.onError?.(err);
  // A loop that fails, or a write that finds the fence gone, ends the term (the elector campaigns again).
  const term = new AbortController();
  // Every informer, loop and watch of the term listens on it.
  setMaxListeners(0, term.signal);
  const writer = new FencedStore(store, fence, (err) => {
    opts.onEvent?.({ type: 'fenced', message: err.message });
    term.abort(err);
  });
  const services = new Informer<Service>({ store, prefix: resourcePrefix('services'), decode: (kv) => decodeObject<Service>(kv), onError });
  const tasks = new Informer<Task>({ store, prefix: resourcePrefix('tasks'), decode: (kv) => decodeObject<Task>(kv), indexers: { [SERVICE_INDEX]: taskServiceIndex, [NODE_INDEX]: taskNodeIndex }, onError });
  const nodes = new Informer<Node>({ store, prefix: resourcePrefix('nodes'), decode: (kv) => decodeObject<Node>(kv), onError });
  const endpoints = new Informer<Endpoints>({ store, prefix: resourcePrefix('endpoints'), decode: (kv) => decodeObject<Endpoints>(kv), onError });
  const leases = new Informer<unknown>({ store, prefix: NODE_LEASES_PREFIX, decode: (kv) => kv.value, onError });
  const countBy = <T>(inf: Informer<T>, state: (o: T) => string) => (): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const c of inf.list()) counts.set(state(c.object), (counts.get(state(c.object)) ?? 0) + 1);
    return counts;
  };
  opts.metrics?.setStateSources({ tasks: countBy(tasks, (t) => t.status.state), nodes: countBy(nodes, (n) => n.status.state) });
  // podCIDR allocation: one step after node additions or podCIDR edits, coalesced.
  let cidrRun: Promise<void> = Promise.resolve();
  let cidrQueued = false;
  const queueCidrs = (): void => {
    if (cidrQueued) return;
    cidrQueued = true;
    cidrRun = cidrRun.then(async () => {
      cidrQueued = false;
      if (term.signal.aborted) return;
      try {
        await podCidrStep(writer, nodes, opts.clusterCidr);
      } catch (err) {
        onError(err);
      }
    });
  };
  const offCidr = nodes.addHandlers({
    onAdd: queueCidrs,
    // Our own assignments (none → a subnet) need no new step: only an edit or a removal of
    // a subnet a node had may free or duplicate one. During a join storm of thousands of
    // nodes this keeps the steps to one per join instead of two.
    onUpdate: (p, c) => {
      if (p.object.spec.podCIDR !== c.object.spec.podCIDR && (p.object.spec.podCIDR ?? '') !== '') queueCidrs();
    },
  });
  const stop = (): void => term.abort();
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) term.abort();
  const guard = (p: Promise<void>): Promise<void> =>
    p.catch((err: unknown) => {
      onError(err);
      term.abort();
    });
  const s = term.signal;
  try {
    await Promise.all(
      [
        services.run(s),
        tasks.run(s),
        nodes.run(s),
        leases.run(s),
        endpoints.run(s),
        runServiceNetworkLoop({
          store: writer, services, tasks, endpoints, serviceCidr: opts.serviceCidr ?? DEFAULT_SERVICE_CIDR, signal: s, onError,
          ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
        }),
        runOrchestratorLoop({ store: writer, services, tasks, nodes, signal: s, onError }),
        runSchedulerLoop({ store: writer, tasks, nodes, signal: s, onError }),
        runNodeMonitor({ store: writer, nodes, tasks, leases, nodeTimeoutMs: opts.nodeTimeoutMs, signal: s, onError }),
      ].map(guard),
    );
  } finally {
    // Followers have no caches: their gauges go empty rather than stale.
    opts.metrics?.setStateSources({ tasks: () => [], nodes: () => [] });
    signal.removeEventListener('abort', stop);
    offCidr();
    await cidrRun;
  }
}
