/**
 * `apply --wait`: follow a service until its replicas run, fail fast when they cannot. The
 * decision is pure (`RolloutWatch.observe`); `waitForService` polls the API and draws a
 * progress line on a TTY (nothing in pipes until the end).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ShoalError, isTerminal, type Service, type Task } from '../../api/index.js';
import type { ApiClient } from '../../client/index.js';
import type { CtlContext } from '../context.js';

export interface RolloutView {
  done: boolean;
  /** Why waiting is pointless: a task failed or was rejected, or stays unschedulable. */
  failure?: string;
  /** One line for people: `service/web: 2/3 running, 1 preparing (pulling 40%)`. */
  line: string;
}

const ACTIVE_ORDER = ['pending', 'assigned', 'accepted', 'preparing', 'starting'] as const;

/**
 * Remembers what it saw between polls: tasks already terminal at the first look are history
 * and never count as failures; a task that fails later does. A pending task that the
 * scheduler calls unschedulable fails the wait once it has stayed so for `unschedulableMs`.
 */
export class RolloutWatch {
  private baseline: Set<string> | undefined;
  private readonly unschedulableSince = new Map<string, number>();

  constructor(
    private readonly name: string,
    private readonly unschedulableMs = 15_000,
  ) {}

  observe(svc: Service, tasks: readonly Task[], nowMs: number): RolloutView {
    const first = this.baseline === undefined;
    const baseline = (this.baseline ??= new Set(tasks.filter((t) => isTerminal(t.status.state)).map((t) => t.metadata.name)));
    const mode = svc.spec.mode ?? 'replicated';
    const desired = mode === 'global' ? (svc.status?.replicas ?? 0) : (svc.spec.replicas ?? 1);
    const observed = (svc.status?.observedGeneration ?? 0) >= (svc.metadata.generation ?? 1);
    const ready = svc.status?.readyReplicas ?? 0;
    const updated = svc.status?.updatedReplicas ?? ready;
    const converged = observed && ready >= desired && updated >= desired && (mode === 'job' || mode === 'cron' || ready === desired || mode === 'global');

    const counts = new Map<string, number>();
    let pulling: { current: number; total: number } | undefined;
    let failure: string | undefined;
    const seenPending = new Set<string>();
    for (const t of tasks) {
      const st = t.status.state;
      if (t.spec.desiredState === 'running' && !isTerminal(st)) counts.set(st, (counts.get(st) ?? 0) + 1);
      if (st === 'preparing' && t.status.progress !== undefined && t.status.progress.total > 0) {
        pulling = { current: (pulling?.current ?? 0) + t.status.progress.current, total: (pulling?.total ?? 0) + t.status.progress.total };
      }
      // A replaced failure gets desiredState shutdown (Swarm's rule), possibly before this poll
      // sees it; tasks the orchestrator stops end as `shutdown`, so any new failed or rejected task counts.
      if (!first && failure === undefined && (st === 'failed' || st === 'rejected') && !baseline.has(t.metadata.name)) {
        failure = `task ${t.metadata.name} ${st}${t.spec.nodeName ? ` on ${t.spec.nodeName}` : ''}: ${t.status.message ?? '(no message)'}`;
      }
      if (isTerminal(st)) baseline.add(t.metadata.name);
      if (st === 'pending' && t.spec.desiredState === 'running' && (t.status.reason === 'Unschedulable' || /^no node fits/.test(t.status.message ?? ''))) {
        seenPending.add(t.metadata.name);
        const since = this.unschedulableSince.get(t.metadata.name) ?? nowMs;
        this.unschedulableSince.set(t.metadata.name, since);
        if (failure === undefined && nowMs - since >= this.unschedulableMs) {
          failure = `task ${t.metadata.name} cannot be scheduled: ${t.status.message ?? 'no node fits'}`;
        }
      }
    }
    for (const k of [...this.unschedulableSince.keys()]) if (!seenPending.has(k)) this.unschedulableSince.delete(k);

    const parts = [`${counts.get('running') ?? 0}/${desired} running`];
    for (const s of ACTIVE_ORDER) {
      const n = counts.get(s) ?? 0;
      if (n === 0) continue;
      let text = `${n} ${s}`;
      if (s === 'preparing' && pulling !== undefined) text += ` (pulling ${Math.floor((100 * pulling.current) / pulling.total)}%)`;
      parts.push(text);
    }
    const line = `service/${this.name}: ${parts.join(', ')}`;
    if (converged) return { done: true, line };
    return failure !== undefined ? { done: false, failure, line } : { done: false, line };
  }
}

/** Polls the service and its tasks until converged; throws a ShoalError naming why it cannot. */
export async function waitForService(c: ApiClient, ns: string, name: string, ctx: CtlContext, timeoutMs: number, pollMs = 500): Promise<void> {
  const end = Date.now() + timeoutMs;
  const watch = new RolloutWatch(name);
  const tty = ctx.stderr.isTTY === true;
  let shown = '';
  const show = (line: string): void => {
    if (!tty || line === shown) return;
    shown = line;
    ctx.stderr.write(`\r\x1b[2K${line}`);
  };
  const clear = (): void => {
    if (tty && shown !== '') ctx.stderr.write('\r\x1b[2K');
  };
  try {
    for (;;) {
      const svc = await c.get<Service>('services', ns, name);
      const tasks = (await c.list<Task>('tasks', { namespace: ns, fieldSelector: `spec.serviceName=${name}` })).items;
      const v = watch.observe(svc, tasks, Date.now());
      show(v.line);
      if (v.done) return;
      if (v.failure !== undefined) throw new ShoalError('FailedPrecondition', `service/${name}: ${v.failure}`);
      if (Date.now() > end) throw new ShoalError('Timeout', `${v.line} after ${Math.round(timeoutMs / 1000)}s`);
      // The abortable sleep removes its listener when it ends (a hand-made one leaked a listener per poll).
      await delay(pollMs, undefined, { signal: ctx.signal }).catch(() => undefined);
      if (ctx.signal.aborted) throw new ShoalError('Canceled', 'interrupted');
    }
  } finally {
    clear();
  }
}
