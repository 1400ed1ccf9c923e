/**
 * The service-network loop (leader only): gives each replicated and global service in vip mode
 * a virtual IP out of `--service-cidr` (in `status.virtualIP`, kept for the service's life,
 * freed when it is deleted), and keeps one Endpoints object per such service: its VIP,
 * networks, ingress ports and the addresses of its running tasks.
 *
 * Driven by the term's informers: a service event or a change to one of its tasks (the tasks
 * informer's SERVICE_INDEX) queues that service only; keys queued within COALESCE_MS are handled
 * together and their writes go out in batched CAS transactions through the term's FencedStore.
 * At the start of a term every stored VIP is claimed, oldest service first (after a restore,
 * the younger of two services with the same address gets a new one), then every service and
 * every stored Endpoints object is looked at once (stale ones are deleted).
 */
import { type Endpoints, type Service, type Task } from '../../api/index.js';
import { commitInBatches, encodeObject, objectKey, resourcePrefix, WorkQueue, type Informer, type TermStore, type TxnOp } from '../../store/index.js';
import { sleep } from '../../util/index.js';
import { SERVICE_INDEX, taskServiceIndex } from '../orchestrator/index.js';
import { endpointsObject, endpointsSpec, isServed, wantsVip } from './endpoints.js';
import { VipAllocator } from './vip.js';

/** How long a burst of events is gathered before the loop acts on it. */
export const COALESCE_MS = 10;

export interface ServiceNetworkLoopOptions {
  store: TermStore;
  services: Informer<Service>;
  /** Built with the orchestrator's SERVICE_INDEX. */
  tasks: Informer<Task>;
  endpoints: Informer<Endpoints>;
  serviceCidr: string;
  signal: AbortSignal;
  onError?: (err: unknown) => void;
  onEvent?: (e: { type: string; message?: string }) => void;
}

const SERVICES_PREFIX = resourcePrefix('services');
const ENDPOINTS_PREFIX = resourcePrefix('endpoints');

export async function runServiceNetworkLoop(opts: ServiceNetworkLoopOptions): Promise<void> {
  const { store, services, tasks, endpoints, signal } = opts;
  const vips = new VipAllocator(opts.serviceCidr);
  const queue = new WorkQueue(signal);
  /** Endpoints specs this term wrote, by key, until the informer shows them. */
  const written = new Map<string, string>();
  const exhaustedLogged = new Set<string>();
  const mark = (key: string | undefined): void => {
    if (key !== undefined && key !== '') queue.add(key);
  };
  const offs = [
    services.addHandlers({
      onAdd: (c) => mark(c.key.slice(SERVICES_PREFIX.length)),
      onUpdate: (_p, c) => mark(c.key.slice(SERVICES_PREFIX.length)),
      onDelete: (p) => mark(p.key.slice(SERVICES_PREFIX.length)),
    }),
    tasks.addHandlers({
      onAdd: (c) => mark(taskServiceIndex(c.object)[0]),
      onUpdate: (p, c) => endpointChanged(p.object, c.object) && mark(taskServiceIndex(c.object)[0]),
      onDelete: (p) => mark(taskServiceIndex(p.object)[0]),
    }),
    endpoints.addHandlers({ onDelete: (p) => mark(p.key.slice(ENDPOINTS_PREFIX.length)) }),
  ];
  try {
    await Promise.all([services.waitForSync(signal), tasks.waitForSync(signal), endpoints.waitForSync(signal)]);
    claimStored();
    for (const c of services.list()) mark(c.key.slice(SERVICES_PREFIX.length));
    for (const c of endpoints.list()) mark(c.key.slice(ENDPOINTS_PREFIX.length));
    while (!signal.aborted) {
      await queue.wait();
      if (signal.aborted) break;
      await sleep(COALESCE_MS, signal).catch(() => undefined);
      const keys = queue.take();
      const ops: TxnOp[] = [];
      for (const key of keys) ops.push(...plan(key));
      if (ops.length === 0) continue;
      try {
        const r = await commitInBatches(store, ops, undefined, signal);
        // A conflict means the cache was behind: the informer event that follows queues the key again.
        for (const op of r.conflicts) written.delete(op.key);
      } catch (err) {
        for (const op of ops) written.delete(op.key);
        opts.onError?.(err);
        for (const k of keys) queue.addAfter(k, 500);
      }
    }
  } finally {
    for (const off of offs) off();
    queue.close();
  }

  /** Keeps the VIPs services have, oldest first; the younger of a duplicate is queued for a new one. */
  function claimStored(): void {
    const withVip = services
      .list()
      .filter((c) => c.object.status?.virtualIP !== undefined && wantsVip(c.object))
      .sort((a, b) => (a.object.metadata.creationTimestamp ?? '').localeCompare(b.object.metadata.creationTimestamp ?? '') || a.key.localeCompare(b.key));
    for (const c of withVip) vips.claim(c.key.slice(SERVICES_PREFIX.length), c.object.status!.virtualIP!);
  }

  /** The writes one service needs now (none when everything is as it should be). */
  function plan(key: string): TxnOp[] {
    const svc = services.get(`${SERVICES_PREFIX}${key}`);
    const epKey = `${ENDPOINTS_PREFIX}${key}`;
    const current = endpoints.get(epKey);
    if (svc === undefined || !isServed(svc.object)) {
      vips.release(key);
      written.delete(epKey);
      return current === undefined ? [] : [{ op: 'delete', key: epKey, expectModRevision: current.modRevision }];
    }
    const ops: TxnOp[] = [];
    let service = svc.object;
    const vip = vipFor(key, service);
    if (vip !== service.status?.virtualIP) {
      const status = { ...service.status };
      if (vip === undefined) delete status.virtualIP;
      else status.virtualIP = vip;
      service = { ...service, status };
      ops.push({ op: 'update', key: svc.key, value: encodeObject(service), expectModRevision: svc.modRevision });
    }
    const obj = endpointsObject(service, endpointsSpec(service, tasks.byIndex(SERVICE_INDEX, key).map((c) => c.object)));
    const text = JSON.stringify(obj.spec);
    if (current !== undefined && JSON.stringify(current.object.spec) === text) {
      written.delete(epKey);
      return ops;
    }
    if (written.get(epKey) === text) return ops;
    written.set(epKey, text);
    const storeKey = objectKey('endpoints', obj.metadata.namespace, obj.metadata.name);
    if (current === undefined) ops.push({ op: 'create', key: storeKey, value: encodeObject(obj) });
    else ops.push({ op: 'update', key: storeKey, value: encodeObject({ ...current.object, spec: obj.spec }), expectModRevision: current.modRevision });
    return ops;
  }

  /** The VIP the service should have: its own when valid, a new one, or none (dnsrr, exhausted). */
  function vipFor(key: string, svc: Service): string | undefined {
    if (!wantsVip(svc)) {
      vips.release(key);
      return undefined;
    }
    const have = svc.status?.virtualIP;
    if (have !== undefined && vips.claim(key, have)) return have;
    try {
      const ip = vips.allocate(key);
      exhaustedLogged.delete(key);
      return ip;
    } catch (err) {
      if (!exhaustedLogged.has(key)) opts.onEvent?.({ type: 'vip-exhausted', message: `service ${key}: ${(err as Error).message}` });
      exhaustedLogged.add(key);
      queue.addAfter(key, 5000);
      return undefined;
    }
  }
}

/** Whether a task update can change its service's endpoints. */
function endpointChanged(a: Task, b: Task): boolean {
  return a.status.state !== b.status.state || a.spec.desiredState !== b.spec.desiredState || a.status.ip !== b.status.ip || a.spec.nodeName !== b.spec.nodeName;
}
