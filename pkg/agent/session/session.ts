/**
 * The agent's session with the controller: register the Node, heartbeat, list-watch the
 * tasks assigned to this node, and drive one worker per task (`nextAction` + the executor
 * below) against the local runtime. Losing the controller never touches the containers;
 * the loops retry with backoff, re-register on 404 and resync on relist.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { canTransition, CONTAINER_TASK_LABEL, errors, isShoalError, isTerminal, toShoalError, taskRef, type Task, type TaskStatus } from '../../api/index.js';
import { Backoff, sleep } from '../../util/index.js';
import type { ControllerApi } from './controller-api.js';
import { stopGraceSeconds, taskCreateOptions } from './create-options.js';
import { exitOutcome, nextAction, type TaskAction } from './next-action.js';
import { desiredNode, nodeStatusOf, POD_CIDR_ANNOTATION, type MachineInfo, type NodeIdentity } from './node-info.js';
import { PullProgress, type TaskContainer, type TaskRuntime } from './task-runtime.js';

export interface SessionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SessionOptions {
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
  backoffMinMs?: number;
  backoffMaxMs?: number;
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
}

/** A service's ingress port on this node and the addresses of its local running replicas. */
export interface LocalIngressPort {
  protocol: 'tcp' | 'udp';
  port: number;
  backends: { ip: string; port: number }[];
}

export interface AgentSession {
  readonly nodeName: string;
  /** The pod CIDR the controller assigned this node, once seen. */
  podCIDR(): string | undefined;
  /** True once a task list has been read (containers are reconciled only then). */
  synced(): boolean;
  close(): Promise<void>;
}

type PullListener = Parameters<TaskRuntime['pull']>[1];

const rvNum = (t: Task): number => Number(t.metadata.resourceVersion ?? '0');

export function startSession(opts: SessionOptions): AgentSession {
  const { api, runtime, log } = opts;
  const now = opts.now ?? ((): Date => new Date());
  const identity: NodeIdentity = { ...opts.identity, hostname: opts.identity.hostname ?? hostname() };
  const nodeName = identity.nodeName;
  const selector = `spec.nodeName=${nodeName}`;
  const beatMs = opts.heartbeatIntervalMs ?? 1000;
  const resyncMs = opts.resyncIntervalMs ?? 5000;
  const progressMs = opts.progressIntervalMs ?? 1000;
  const newBackoff = (): Backoff => new Backoff({ minMs: opts.backoffMinMs ?? 200, maxMs: opts.backoffMaxMs ?? 5000 });
  const ac = new AbortController();
  const signal = ac.signal;
  // One exit watcher per running container listens on it: hundreds is normal, not a leak.
  setMaxListeners(0, signal);

  const tasks = new Map<string, Task>();
  let isSynced = false;
  let podCIDR: string | undefined;
  /** The podCIDR `onPodCIDR` last succeeded with (tasks start only once it is set, when there is a hook). */
  let appliedPodCIDR: string | undefined;
  let applyingPodCIDR: Promise<void> | undefined;
  const networkReady = (): boolean => opts.onPodCIDR === undefined || appliedPodCIDR !== undefined;
  const busy = new Map<string, Promise<void>>();
  const dirty = new Set<string>();
  const waiting = new Set<string>(); // container ids with an exit watcher
  const loops: Promise<void>[] = [];
  let ingressTimer: NodeJS.Timeout | undefined;
  let ingressApplied: string | undefined;
  let ingressChain: Promise<void> = Promise.resolve();

  const storeTask = (t: Task): void => {
    const key = taskRef(t);
    const cur = tasks.get(key);
    if (cur === undefined || rvNum(t) >= rvNum(cur)) tasks.set(key, t);
  };

  // ---- registration and heartbeats -------------------------------------------------------

  const register = async (): Promise<void> => {
    const machine = await opts.probe();
    for (let attempt = 0; ; attempt++) {
      const existing = await api.getNode(nodeName);
      const node = desiredNode(existing, identity, nodeStatusOf(identity, machine, now()));
      try {
        if (existing === undefined) {
          const created = await api.createNode(node);
          podCIDR = created.spec.podCIDR;
        } else {
          const replaced = await api.replaceNode(node);
          await api.replaceNodeStatus({ ...replaced, status: node.status });
          podCIDR = replaced.spec.podCIDR;
        }
        log.info({ node: nodeName, podCIDR }, 'node registered');
        await applyPodCIDR();
        return;
      } catch (err) {
        if (attempt < 10 && (isShoalError(err, 'Conflict') || isShoalError(err, 'AlreadyExists'))) continue;
        throw err;
      }
    }
  };

  /** Hands a new podCIDR to `onPodCIDR` (one at a time); tasks waiting for the network go on after. */
  const applyPodCIDR = (): Promise<void> => {
    const want = podCIDR;
    if (opts.onPodCIDR === undefined || want === undefined || want === appliedPodCIDR || applyingPodCIDR !== undefined) return applyingPodCIDR ?? Promise.resolve();
    applyingPodCIDR = opts
      .onPodCIDR(want, signal)
      .then(() => {
        const first = appliedPodCIDR === undefined;
        appliedPodCIDR = want;
        log.info({ node: nodeName, podCIDR: want }, 'node network on the pod CIDR');
        if (first && isSynced) resyncAll();
      })
      .catch((err: unknown) => {
        if (!signal.aborted) log.error({ err: toShoalError(err).message, podCIDR: want }, 'setting up the node network on the pod CIDR failed; retrying');
      })
      .finally(() => {
        applyingPodCIDR = undefined;
      });
    return applyingPodCIDR;
  };

  /** Re-reads the node now and then: a pod CIDR assigned after registration is recorded. */
  const checkPodCIDR = async (): Promise<void> => {
    const node = await api.getNode(nodeName);
    if (node === undefined) throw errors.notFound(`node ${nodeName} is gone`);
    if (node.spec.podCIDR !== podCIDR || node.metadata.annotations?.[POD_CIDR_ANNOTATION] !== node.spec.podCIDR) {
      podCIDR = node.spec.podCIDR;
      if (podCIDR !== undefined) {
        await api.replaceNode({ ...node, metadata: { ...node.metadata, annotations: { ...node.metadata.annotations, [POD_CIDR_ANNOTATION]: podCIDR } } });
      }
      log.info({ node: nodeName, podCIDR }, 'pod CIDR assigned');
    }
    await applyPodCIDR();
  };

  const heartbeatLoop = async (): Promise<void> => {
    const backoff = newBackoff();
    let registered = false;
    let beats = 0;
    while (!signal.aborted) {
      try {
        if (!registered) {
          await register();
          registered = true;
        }
        await api.heartbeat(nodeName);
        if (backoff.failures > 0) log.info({ node: nodeName }, 'controller reachable again');
        backoff.reset();
        // Until the network is on the podCIDR, every beat looks for it (the leader assigns it
        // shortly after the node registers); after that, every tenth.
        const waitingForNetwork = opts.onPodCIDR !== undefined && (appliedPodCIDR === undefined || appliedPodCIDR !== podCIDR);
        if (++beats % 10 === 0 || waitingForNetwork || (podCIDR === undefined && beats % 2 === 0)) await checkPodCIDR();
        await sleep(beatMs, signal);
      } catch (err) {
        if (signal.aborted) break;
        if (isShoalError(err, 'NotFound')) registered = false; // the node was deleted: register again
        if (backoff.failures === 0) log.warn({ err: toShoalError(err).message }, 'heartbeat failed; retrying with backoff');
        await sleep(backoff.next(), signal);
      }
    }
  };

  // ---- task list-watch ---------------------------------------------------------------------

  const watchLoop = async (): Promise<void> => {
    const backoff = newBackoff();
    while (!signal.aborted) {
      try {
        const list = await api.listTasks(selector);
        const seen = new Set<string>();
        for (const t of list.items) {
          if (t.spec.nodeName !== nodeName) continue;
          seen.add(taskRef(t));
          tasks.set(taskRef(t), t);
        }
        for (const k of [...tasks.keys()]) if (!seen.has(k)) tasks.delete(k);
        isSynced = true;
        backoff.reset();
        resyncAll();
        for await (const ev of api.watchTasks(selector, list.metadata.resourceVersion, signal)) {
          const key = taskRef(ev.object);
          if (ev.type === 'DELETED' || ev.object.spec.nodeName !== nodeName) tasks.delete(key);
          else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') storeTask(ev.object);
          kick(key);
        }
        // The stream ended (controller restart, leader change): relist.
      } catch (err) {
        if (signal.aborted) break;
        if (!isShoalError(err, 'Gone') && backoff.failures === 0) log.warn({ err: toShoalError(err).message }, 'task watch failed; relisting with backoff');
        await sleep(backoff.next(), signal);
      }
    }
  };

  // ---- workers -----------------------------------------------------------------------------

  const containerOf = (key: string): TaskContainer | undefined => {
    const mine = runtime.taskContainers(key);
    return mine.find((c) => c.status === 'running' || c.status === 'paused') ?? mine[0];
  };

  function resyncAll(): void {
    const keys = new Set(tasks.keys());
    for (const c of runtime.taskContainers()) {
      const k = c.labels[CONTAINER_TASK_LABEL];
      if (k !== undefined) keys.add(k);
    }
    for (const k of keys) kick(k);
  }

  /** The ingress ports of the running local tasks, from the task list and the containers. */
  const localIngress = (): LocalIngressPort[] => {
    const running = new Map<string, TaskContainer>();
    for (const c of runtime.taskContainers()) {
      const k = c.labels[CONTAINER_TASK_LABEL];
      if (k !== undefined && c.status === 'running' && c.ip !== undefined) running.set(k, c);
    }
    const byPort = new Map<string, LocalIngressPort>();
    for (const [key, t] of tasks) {
      if (t.spec.desiredState !== 'running' || t.status.state !== 'running' || t.spec.ports === undefined) continue;
      const c = running.get(key);
      if (c?.ip === undefined) continue;
      for (const p of t.spec.ports) {
        if ((p.mode ?? 'ingress') !== 'ingress') continue;
        const protocol = p.protocol === 'UDP' ? 'udp' : 'tcp';
        const k = `${protocol}/${p.port}`;
        const e = byPort.get(k) ?? { protocol, port: p.port, backends: [] };
        e.backends.push({ ip: c.ip, port: p.targetPort });
        byPort.set(k, e);
      }
    }
    return [...byPort.values()]
      .map((e) => ({ ...e, backends: e.backends.sort((a, b) => a.ip.localeCompare(b.ip) || a.port - b.port) }))
      .sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
  };

  /** Recomputes the node's ingress ports shortly after task work settles; applies only changes. */
  function scheduleIngress(): void {
    if (opts.onIngress === undefined || ingressTimer !== undefined || signal.aborted) return;
    ingressTimer = setTimeout(() => {
      ingressTimer = undefined;
      ingressChain = ingressChain.then(async () => {
        if (signal.aborted || !isSynced) return;
        const ports = localIngress();
        const text = JSON.stringify(ports);
        if (text === ingressApplied) return;
        try {
          await opts.onIngress?.(ports);
          ingressApplied = text;
        } catch (err) {
          log.error({ err: toShoalError(err).message }, 'programming the ingress ports failed; retrying at the next change or resync');
        }
      });
    }, 50);
  }

  function kick(key: string): void {
    if (signal.aborted) return;
    if (busy.has(key)) {
      dirty.add(key);
      return;
    }
    const p = work(key)
      .catch((err: unknown) => log.error({ err: toShoalError(err).message, task: key }, 'task worker failed'))
      .finally(() => {
        busy.delete(key);
        if (dirty.delete(key)) kick(key);
        scheduleIngress();
      });
    busy.set(key, p);
  }

  const watchExit = (key: string, c: TaskContainer): void => {
    if (waiting.has(c.id) || (c.status !== 'running' && c.status !== 'paused')) return;
    waiting.add(c.id);
    const p = runtime.waitExit(c.id, signal).then(() => {
      waiting.delete(c.id);
      kick(key);
    });
    void p;
  };

  /**
   * Writes a status computed from the freshest task (CAS). A 409 or a 422 (someone else moved
   * the state forward) re-reads and recomputes; a state that may not follow is not written.
   */
  const writeStatus = async (key: string, mutate: (t: Task) => TaskStatus | undefined): Promise<void> => {
    for (let attempt = 0; attempt < 6; attempt++) {
      const t = tasks.get(key);
      if (t === undefined) return;
      const next = mutate(t);
      if (next === undefined || !canTransition(t.status.state, next.state)) return;
      try {
        const written = await api.replaceTaskStatus({ ...t, status: next });
        // The watch may have delivered the task's deletion while the write was in flight: a
        // deleted task must not come back (its container would then never be removed).
        if (tasks.has(key)) storeTask(written);
        return;
      } catch (err) {
        if (isShoalError(err, 'NotFound')) {
          tasks.delete(key);
          return;
        }
        if (!isShoalError(err, 'Conflict') && !isShoalError(err, 'Invalid')) throw err;
        const fresh = await api.getTask(t.metadata.namespace ?? 'default', t.metadata.name);
        if (fresh === undefined) tasks.delete(key);
        else tasks.set(key, fresh);
      }
    }
  };

  const toState = (state: TaskStatus['state'], extra: Partial<TaskStatus> = {}) =>
    (t: Task): TaskStatus | undefined => {
      if (t.status.state === state && Object.keys(extra).length === 0) return undefined;
      const { progress: _p, ...rest } = t.status;
      return { ...rest, state, timestamp: now().toISOString(), ...extra };
    };

  const reject = (key: string, err: unknown): Promise<void> =>
    writeStatus(key, toState('rejected', { message: toShoalError(err).message, finishedAt: now().toISOString() }));

  /**
   * One pull per image at a time, whatever the number of tasks that need it: a 100-replica
   * service starts with 100 tasks missing the same image, and 100 concurrent pulls of it cost
   * seconds of manifest requests and snapshot checks. Every waiting task gets the progress.
   */
  const pulls = new Map<string, { done: Promise<void>; listeners: Set<PullListener> }>();
  const sharedPull = async (image: string, onProgress: PullListener): Promise<void> => {
    let p = pulls.get(image);
    if (p === undefined) {
      const listeners = new Set<PullListener>();
      const done = runtime
        .pull(image, (ev) => {
          for (const l of listeners) l(ev);
        }, signal)
        .finally(() => pulls.delete(image));
      p = { done, listeners };
      pulls.set(image, p);
    }
    p.listeners.add(onProgress);
    try {
      await p.done;
    } finally {
      p.listeners.delete(onProgress);
    }
  };

  /** pull (preparing) → create + start (starting) → running. */
  const runTask = async (key: string, task: Task): Promise<void> => {
    let create;
    try {
      create = taskCreateOptions(task);
    } catch (err) {
      return reject(key, err);
    }
    try {
      // `preparing` is written only when there is something to prepare (a pull): with the image
      // present the task goes from accepted to starting, one status write (and etcd txn) less.
      if (!(await runtime.hasImage(create.image))) {
        await writeStatus(key, toState('preparing', { message: `pulling ${create.image}` }));
        const progress = new PullProgress();
        let lastWrite = 0;
        let writing: Promise<void> = Promise.resolve();
        await sharedPull(
          create.image,
          (ev) => {
            progress.add(ev);
            const at = Date.now();
            if (at - lastWrite < progressMs) return;
            lastWrite = at;
            const snapshot = progress.get();
            writing = writing
              .then(() => writeStatus(key, (t) => (t.status.state === 'preparing' ? { ...t.status, progress: snapshot } : undefined)))
              .catch(() => undefined); // progress is best effort
          },
        );
        await writing;
      }
    } catch (err) {
      if (signal.aborted) return;
      return reject(key, errors.upstream(`pulling ${create.image}: ${toShoalError(err).message}`));
    }
    const latest = tasks.get(key);
    if (latest === undefined || latest.spec.desiredState !== 'running' || isTerminal(latest.status.state)) return;
    await writeStatus(key, toState('starting', { message: 'starting' }));
    let id: string;
    try {
      id = await runtime.create(create);
    } catch (err) {
      if (!isShoalError(err, 'AlreadyExists')) return reject(key, err);
      // A container holding the task's name without its label: not ours to keep.
      const holder = runtime.taskContainers().find((c) => c.name === create.name);
      if (holder !== undefined) await runtime.remove(holder.id);
      try {
        id = await runtime.create(create);
      } catch (err2) {
        return reject(key, err2);
      }
    }
    try {
      await runtime.start(id);
    } catch (err) {
      await runtime.remove(id).catch(() => undefined);
      return reject(key, err);
    }
    // The next pass of the worker reports `running` (with the address) or the exit.
  };

  const perform = async (key: string, task: Task | undefined, c: TaskContainer | undefined, action: TaskAction): Promise<void> => {
    switch (action.kind) {
      case 'none':
        return;
      case 'accept':
        return writeStatus(key, toState('accepted', { message: 'accepted' }));
      case 'run':
        if (task !== undefined) await runTask(key, task);
        return;
      case 'discard':
        if (c !== undefined) await runtime.remove(c.id);
        return;
      case 'report-running':
        if (c === undefined) return;
        watchExit(key, c);
        return writeStatus(key, toState('running', {
          message: 'started',
          containerId: c.id,
          ...(c.startedAt ? { startedAt: c.startedAt } : {}),
          ...(c.ip !== undefined ? { ip: c.ip } : {}),
        }));
      case 'report-exit': {
        if (c === undefined) return;
        const o = exitOutcome(c);
        return writeStatus(key, toState(o.state, {
          message: o.message,
          exitCode: o.exitCode,
          containerId: c.id,
          finishedAt: c.finishedAt || now().toISOString(),
        }));
      }
      case 'report-lost':
        return writeStatus(key, toState('failed', { message: 'task: container lost', finishedAt: now().toISOString() }));
      case 'stop':
        if (c !== undefined) await runtime.stop(c.id, stopGraceSeconds(task));
        return;
      case 'report-shutdown': {
        const extra: Partial<TaskStatus> = { message: 'shut down', finishedAt: now().toISOString() };
        if (c !== undefined && c.status === 'exited') extra.exitCode = c.exitCode;
        return writeStatus(key, toState('shutdown', extra));
      }
    }
  };

  async function work(key: string): Promise<void> {
    for (let step = 0; step < 12 && !signal.aborted; step++) {
      const task = tasks.get(key);
      const c = containerOf(key);
      if (task === undefined) {
        // No task (deleted, or assigned elsewhere): its container goes, but only once we
        // know the controller's list; an unreachable controller never removes anything.
        if (c === undefined || !isSynced) return;
        log.info({ task: key, container: c.id.slice(0, 12) }, 'removing the container of a task that is gone');
        if (c.status === 'running' || c.status === 'paused') await runtime.stop(c.id, 10);
        await runtime.remove(c.id);
        continue;
      }
      const action = nextAction(task, c);
      // Tasks start only once the bridge is on the node's podCIDR; all tasks are kicked then.
      if (action.kind === 'run' && !networkReady()) return;
      if (action.kind === 'none') {
        if (c !== undefined) watchExit(key, c);
        return;
      }
      const before = task.metadata.resourceVersion;
      await perform(key, task, c, action);
      // A write that changed nothing (another writer won, or nothing to write) must not spin.
      const after = tasks.get(key);
      if ((action.kind === 'accept' || action.kind.startsWith('report')) && after?.metadata.resourceVersion === before && containerOf(key)?.status === c?.status) return;
    }
  }

  const resyncLoop = async (): Promise<void> => {
    while (!signal.aborted) {
      await sleep(resyncMs, signal);
      if (isSynced && !signal.aborted) resyncAll();
    }
  };

  loops.push(heartbeatLoop(), watchLoop(), resyncLoop());

  let closing: Promise<void> | undefined;
  return {
    nodeName,
    podCIDR: () => podCIDR,
    synced: () => isSynced,
    close: () =>
      (closing ??= (async () => {
        ac.abort();
        clearTimeout(ingressTimer);
        await Promise.allSettled([...loops, ...busy.values(), ingressChain]);
      })()),
  };
}
