/**
 * The node's ingress ports: each `mode: ingress` service port (the default mode) and the
 * running local replicas behind it. `localIngress` computes them from the task cache and the
 * containers (pure, O(tasks + containers)); `IngressApplier` recomputes them a moment after
 * task work settles (debounced) and hands them to the network only when they changed, one
 * application at a time. A failed application is logged and retried at the next change or
 * resync (the last applied set is remembered only on success).
 */
import { CONTAINER_TASK_LABEL, toShoalError, type Task } from '../../api/index.js';
import type { SessionLogger } from './logger.js';
import type { TaskContainer } from './task-runtime.js';

/** A service's ingress port on this node and the addresses of its local running replicas. */
export interface LocalIngressPort {
  protocol: 'tcp' | 'udp';
  port: number;
  backends: { ip: string; port: number }[];
}

/**
 * The ingress ports of the running local tasks: a task counts when it is desired running,
 * reported running, and its container (found by the `shoal.task` label) runs with an address.
 * Sorted by port then protocol, backends by address then port, so equal sets compare equal.
 */
export function localIngress(tasks: Iterable<readonly [string, Task]>, containers: Iterable<TaskContainer>): LocalIngressPort[] {
  const running = new Map<string, TaskContainer>();
  for (const c of containers) {
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
}

export interface IngressApplierOptions {
  /** Programs the ports (SessionOptions.onIngress). */
  apply(ports: LocalIngressPort[]): Promise<void>;
  /** The ports now; undefined while they cannot be known (no task list yet). */
  compute(): LocalIngressPort[] | undefined;
  log: SessionLogger;
  signal: AbortSignal;
  /** Default 50 ms. */
  debounceMs?: number;
}

export class IngressApplier {
  private timer: NodeJS.Timeout | undefined;
  /** The ports last applied, as JSON. */
  private applied: string | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: IngressApplierOptions) {}

  /** Recomputes the ports shortly (calls within the debounce window coalesce). */
  schedule(): void {
    if (this.timer !== undefined || this.opts.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.chain = this.chain.then(() => this.applyNow());
    }, this.opts.debounceMs ?? 50);
  }

  /** Drops a scheduled recomputation and resolves once the one under way has ended. */
  close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.chain;
  }

  private async applyNow(): Promise<void> {
    if (this.opts.signal.aborted) return;
    try {
      const ports = this.opts.compute();
      if (ports === undefined) return;
      const text = JSON.stringify(ports);
      if (text === this.applied) return;
      await this.opts.apply(ports);
      this.applied = text;
    } catch (err) {
      this.opts.log.error({ err: toShoalError(err).message }, 'programming the ingress ports failed; retrying at the next change or resync');
    }
  }
}
