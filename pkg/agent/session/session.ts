/**
 * The agent's session with the controller: the composition of its parts, each in its own
 * module. Losing the controller never touches the containers; every loop retries with
 * backoff, re-registers on 404 and resyncs on relist.
 *
 *   registration.ts   NodeRegistration: register the Node, heartbeat, pod CIDR (+ onPodCIDR)
 *   task-informer.ts  TaskInformer: list-watch of this node's tasks, the local task cache
 *   worker.ts         Worker: one pass per task at a time (kick/dirty), resyncs, exit watchers
 *   task-executor.ts  TaskExecutor: one pass over one task (nextAction + perform, run)
 *   reporter.ts       StatusReporter: status writes with CAS retries
 *   pulls.ts          SharedPulls, ProgressWriter: one pull per image, throttled progress
 *   ingress.ts        localIngress (pure) + IngressApplier (debounced onIngress)
 *
 * Events: a (re)list resyncs every task and container; a watch event kicks its task; the
 * network becoming ready resyncs everything (tasks were held back); every pass that ends
 * schedules an ingress recomputation; a resync every `resyncIntervalMs` is the backstop. A
 * heartbeat that gets through after an outage (controller restart, failover, partition)
 * relists at once, so what changed meanwhile (tasks orphaned and replaced elsewhere) is acted
 * on within a heartbeat of the controller being reachable again (docs/agent.md).
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Endpoints, Node } from '../../api/index.js';
import { vtepMacOf, type ClusterNetworkSpec } from '../../network/index.js';
import type { Backoff } from '../../util/index.js';
import { ClusterInformer } from './cluster-informer.js';
import type { TaskFiles } from './task-files.js';
import { ClusterNetworkApplier, clusterNetworkSpec } from './cluster-view.js';
import type { ControllerApi } from './controller-api.js';
import { IngressApplier, localIngress, type LocalIngressPort } from './ingress.js';
import type { SessionLogger } from './logger.js';
import type { MachineInfo, NodeIdentity } from './node-info.js';
import { agentBackoff, heartbeatBackoff, type PacingOptions } from './pacing.js';
import { SharedPulls } from './pulls.js';
import { NodeRegistration } from './registration.js';
import { StatusReporter } from './reporter.js';
import { TaskExecutor } from './task-executor.js';
import { TaskInformer } from './task-informer.js';
import type { TaskRuntime } from './task-runtime.js';
import { Worker } from './worker.js';


export interface SessionOptions extends PacingOptions {
  api: ControllerApi;
  runtime: TaskRuntime;
  identity: Omit<NodeIdentity, 'hostname'> & { hostname?: string };
  probe: () => Promise<MachineInfo>;
  log: SessionLogger;
  /** Heartbeat period (a third of the controller's node timeout); default 1000 ms. */
  heartbeatIntervalMs?: number;
  /** Backstop resync of every task and container; default 5000 ms. */
  resyncIntervalMs?: number;
  /** Minimum interval between two `status.progress` writes while pulling; default 1000 ms. */
  progressIntervalMs?: number;
  now?: () => Date;
  /**
   * Called with the node's podCIDR when it is first seen and whenever it changes (the agent
   * moves its bridge onto it). When set, tasks are not started before it has succeeded once;
   * a failure is logged and retried at the next podCIDR check. Running containers are
   * re-adopted, reported and stopped regardless.
   */
  onPodCIDR?: (podCIDR: string, signal: AbortSignal) => Promise<void>;
  /**
   * Called (debounced, only on change) with the node's load-balanced published ports: each
   * `mode: ingress` service port and the running local task containers behind it.
   */
  onIngress?: (ports: LocalIngressPort[]) => Promise<void>;
  /**
   * The cluster network (overlay, service VIPs, isolation, routing mesh, DNS): the session
   * list-watches every Node and Endpoints object, publishes this node's VXLAN endpoint in its
   * status (`identity.advertiseAddr` and `port`), and calls `apply` (debounced, only on change)
   * once the bridge is on the podCIDR. The node-local `onIngress` is then not used: the mesh
   * owns published ingress ports.
   */
  clusterNetwork?: { port: number; apply(spec: ClusterNetworkSpec): Promise<void> };
  /** Where tasks' secrets and configs become files (absent: tasks that name any are rejected). */
  files?: TaskFiles;
  /** TCP ports the agent itself listens on (`--metrics-listen`): a task may not publish them. */
  ownPorts?: ReadonlySet<number>;
}

export interface AgentSession {
  readonly nodeName: string;
  /** The pod CIDR the controller assigned this node, once seen. */
  podCIDR(): string | undefined;
  /** True once a task list has been read (containers are reconciled only then). */
  synced(): boolean;
  close(): Promise<void>;
}

export function startSession(opts: SessionOptions): AgentSession {
  const { api, runtime, log } = opts;
  const now = opts.now ?? ((): Date => new Date());
  const identity: NodeIdentity = { ...opts.identity, hostname: opts.identity.hostname ?? hostname() };
  const nodeName = identity.nodeName;
  const backoff = (): Backoff => agentBackoff(opts);
  const ac = new AbortController();
  const signal = ac.signal;
  // One exit watcher per running container listens on it: hundreds is normal, not a leak.
  setMaxListeners(0, signal);

  const tasks = new TaskInformer({ api, nodeName, log, backoff });
  const cn = opts.clusterNetwork;
  if (cn !== undefined && identity.advertiseAddr !== undefined) {
    identity.overlay = { vtepMAC: vtepMacOf(nodeName), address: identity.advertiseAddr, port: cn.port };
  } else if (cn !== undefined) log.warn({}, 'no --advertise-addr: this node cannot join the overlay (containers reach only this node)');
  // Without an overlay endpoint (no --advertise-addr) the node keeps its node-local ingress ports.
  const onIngress = cn !== undefined && identity.overlay !== undefined ? undefined : opts.onIngress;
  const ingress = onIngress === undefined ? undefined : new IngressApplier({
    apply: onIngress,
    compute: () => (tasks.synced() ? localIngress(tasks.entries(), runtime.taskContainers()) : undefined),
    log,
    signal,
  });
  const worker: Worker = new Worker({
    pass: (key) => executor.pass(key),
    taskKeys: () => tasks.keys(),
    runtime,
    log,
    signal,
    onSettled: () => ingress?.schedule(),
  });
  let cluster: { nodes: ClusterInformer<Node>; endpoints: ClusterInformer<Endpoints>; applier: ClusterNetworkApplier } | undefined;
  if (cn !== undefined && identity.overlay !== undefined) {
    const overlay = identity.overlay;
    const onChange = (): void => cluster?.applier.schedule();
    cluster = {
      nodes: new ClusterInformer<Node>({ api, plural: 'nodes', log, backoff, onChange }),
      endpoints: new ClusterInformer<Endpoints>({ api, plural: 'endpoints', log, backoff, onChange }),
      applier: new ClusterNetworkApplier({
        apply: (spec) => cn.apply(spec),
        compute: () => {
          const podCIDR = registration.podCIDR();
          if (!cluster || podCIDR === undefined || !registration.networkReady() || !cluster.nodes.synced() || !cluster.endpoints.synced()) return undefined;
          return clusterNetworkSpec({ nodeName, podCIDR, ...overlay }, cluster.nodes.values(), cluster.endpoints.values());
        },
        log,
        signal,
      }),
    };
  }
  const heartbeatMs = opts.heartbeatIntervalMs ?? 1000;
  const registration = new NodeRegistration({
    api, identity, probe: opts.probe, log, now,
    backoff: () => heartbeatBackoff(opts, heartbeatMs),
    heartbeatMs,
    onReconnect: () => {
      tasks.relist();
      cluster?.nodes.relist();
      cluster?.endpoints.relist();
    },
    ...(opts.onPodCIDR !== undefined ? { onPodCIDR: opts.onPodCIDR } : {}),
    onNetworkReady: () => {
      if (tasks.synced()) worker.resyncAll();
      cluster?.applier.schedule();
    },
  });
  const executor = new TaskExecutor({
    tasks, runtime, log, signal, now,
    reporter: new StatusReporter({ api, tasks, now }),
    pulls: new SharedPulls(runtime, signal),
    progressIntervalMs: opts.progressIntervalMs ?? 1000,
    networkReady: () => registration.networkReady(),
    watchExit: (key, c) => worker.watchExit(key, c),
    ...(opts.files ? { files: opts.files } : {}),
    ...(opts.ownPorts ? { ownPorts: opts.ownPorts } : {}),
  });
  tasks.addHandlers({ onSync: () => worker.resyncAll(), onChange: (key) => worker.kick(key) });

  const loops = [registration.run(signal), tasks.run(signal), worker.resyncEvery(opts.resyncIntervalMs ?? 5000, () => tasks.synced())];
  if (cluster) loops.push(cluster.nodes.run(signal), cluster.endpoints.run(signal));

  let closing: Promise<void> | undefined;
  return {
    nodeName,
    podCIDR: () => registration.podCIDR(),
    synced: () => tasks.synced(),
    close: () =>
      (closing ??= (async () => {
        ac.abort();
        await Promise.allSettled([...loops, worker.idle(), ingress?.close(), cluster?.applier.close()]);
      })()),
  };
}
