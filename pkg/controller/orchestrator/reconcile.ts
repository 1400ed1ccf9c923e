/**
 * The orchestrator's pure core: from a service, its tasks and the nodes, decide which tasks
 * to create, which to shut down (desiredState → shutdown) and which to remove from the store
 * (Nomad-style buckets), plus the service's status. Time is an argument; nothing here does I/O.
 *
 * Units: a replicated/job service has slots 1..N, a global service one unit per node. Each
 * unit runs at most one desired-running task of the current generation. A restart is a new
 * task in the same unit; the old one stays as bounded history (see docs/orchestrator.md).
 * A failed or orphaned task gets `desiredState: shutdown` once it is replaced (Swarm's rule),
 * in the pass that creates its replacement: the agent of a node that comes back after a
 * partition stops its container (it stops any container of a terminal task), and nothing
 * reads a replaced task as wanted any more. Restarts are counted from how tasks ended
 * (`failed`, `complete`, `rejected`), not from their desiredState.
 */
import { constraintTargetOf, firstUnmet, isTerminal, parseConstraints, parseDurationMs, taskStateIndex, type Condition, type Node, type Service, type ServiceStatus, type Task } from '../../api/index.js';
import { newTask, randomShortId, taskKeyOf, taskSpecKey } from './task-factory.js';

export interface ShutdownDecision {
  task: Task;
  reason: string;
}

export interface ReconcileResult {
  create: Task[];
  shutdown: ShutdownDecision[];
  remove: Task[];
  status: ServiceStatus;
  /** Epoch ms at which the answer changes with time alone (a restart delay ends); re-run then. */
  requeueAt?: number;
}

export interface ReconcileOptions {
  /** Short id generator for new task names (injected by tests). */
  newId?: () => string;
  /** Terminal tasks kept per unit (at least `restart.maxAttempts`). Default 5. */
  historyLimit?: number;
}

export const DEFAULT_RESTART_DELAY_MS = 5000;
const DEFAULT_HISTORY = 5;
/** How a task ends on its own (an attempt that counts against `restart.maxAttempts`). */
const ENDED_BY_ITSELF: ReadonlySet<string> = new Set(['failed', 'complete', 'rejected']);

interface Unit {
  slot?: number;
  nodeName?: string;
  /** Oldest first. */
  tasks: Task[];
}

type UnitState = { kind: 'ok' } | { kind: 'inflight' } | { kind: 'outdated'; old: Task };

class Plan {
  readonly create: Task[] = [];
  readonly shutdown: ShutdownDecision[] = [];
  readonly remove: Task[] = [];
  private readonly touched = new Set<string>();
  requeueAt: number | undefined;

  constructor(
    private readonly service: Service | undefined,
    readonly now: number,
    private readonly newId: () => string,
  ) {}

  add(place: { slot?: number; nodeName?: string }): void {
    if (this.service === undefined) return;
    this.create.push(newTask(this.service, place, this.now, this.newId()));
  }

  /** Sets desiredState shutdown; a task never placed is removed instead (no agent will stop it). */
  /** Returns 'removed' when the task was never placed and is removed instead. */
  stop(task: Task, reason: string): 'stopping' | 'removed' {
    if (this.touched.has(task.metadata.name) || isTerminal(task.status.state)) return 'stopping';
    if (!placed(task) && taskStateIndex(task.status.state) <= taskStateIndex('pending')) {
      this.drop(task);
      return 'removed';
    }
    if (task.spec.desiredState === 'shutdown') return 'stopping';
    this.touched.add(task.metadata.name);
    this.shutdown.push({ task, reason });
    return 'stopping';
  }

  /** A terminal task that is replaced: desiredState shutdown (its status is left as it is). */
  retire(task: Task, reason: string): void {
    if (this.touched.has(task.metadata.name) || !isTerminal(task.status.state) || task.spec.desiredState === 'shutdown') return;
    this.touched.add(task.metadata.name);
    this.shutdown.push({ task, reason });
  }

  drop(task: Task): void {
    if (this.touched.has(task.metadata.name)) return;
    this.touched.add(task.metadata.name);
    this.remove.push(task);
  }

  wakeAt(at: number): void {
    this.requeueAt = this.requeueAt === undefined ? at : Math.min(this.requeueAt, at);
  }
}

export function reconcileService(service: Service, tasks: readonly Task[], nodes: readonly Node[], now: number, opts: ReconcileOptions = {}): ReconcileResult {
  if (service.metadata.deletionTimestamp !== undefined) return reconcileDeletedService(tasks, now);
  const plan = new Plan(service, now, opts.newId ?? randomShortId);
  const mode = service.spec.mode ?? 'replicated';
  const maxAttempts = service.spec.restart?.maxAttempts ?? 0;
  const ctx: Ctx = {
    plan,
    service,
    mode,
    generation: service.metadata.generation ?? 1,
    specKey: taskSpecKey(service.spec),
    nodes: new Map(nodes.map((n) => [n.metadata.name, n])),
    history: Math.max(opts.historyLimit ?? DEFAULT_HISTORY, maxAttempts),
  };
  const own = tasks.filter((t) => t.spec.serviceName === service.metadata.name);
  let desired: number;
  let kept: Unit[];
  if (mode === 'global') ({ desired, kept } = reconcileGlobal(ctx, own));
  else if (mode === 'cron') ({ desired, kept } = { desired: 0, kept: [] });
  else ({ desired, kept } = reconcileSlots(ctx, own));
  const status = computeStatus(service, ctx, kept, desired, now);
  return { create: plan.create, shutdown: plan.shutdown, remove: plan.remove, status, ...(plan.requeueAt !== undefined ? { requeueAt: plan.requeueAt } : {}) };
}

/** The service is gone (or being deleted): shut its tasks down, and remove those that are terminal. */
export function reconcileDeletedService(tasks: readonly Task[], now: number): ReconcileResult {
  const plan = new Plan(undefined, now, randomShortId);
  for (const t of tasks) {
    if (isTerminal(t.status.state)) plan.drop(t);
    else plan.stop(t, 'service deleted');
  }
  return { create: [], shutdown: plan.shutdown, remove: plan.remove, status: { replicas: 0, readyReplicas: 0, updatedReplicas: 0 } };
}

interface Ctx {
  plan: Plan;
  service: Service;
  mode: 'replicated' | 'global' | 'job' | 'cron';
  generation: number;
  /** taskSpecKey of the service now: a task with another key runs an outdated spec. */
  specKey: string;
  nodes: Map<string, Node>;
  history: number;
}

function reconcileSlots(ctx: Ctx, tasks: Task[]): { desired: number; kept: Unit[] } {
  const desired = Math.max(0, ctx.service.spec.replicas ?? 1);
  const bySlot = groupBy(tasks, (t) => (t.spec.slot !== undefined && t.spec.slot > 0 ? t.spec.slot : 0));
  // A slot exists while any task of it does; slots 1..desired are kept. A gap below `desired`
  // (a slot whose history was dropped on a scale to 0) is filled again rather than keeping a
  // higher slot, so desired-running tasks always sit in slots 1..N.
  const keep = new Set([...bySlot.keys()].filter((slot) => slot > 0 && slot <= desired));
  // Slots beyond the count (the highest go first) and tasks without a slot: stop, then forget.
  for (const [slot, ts] of bySlot) {
    if (keep.has(slot)) continue;
    for (const t of ts) {
      if (isTerminal(t.status.state)) ctx.plan.drop(t);
      else ctx.plan.stop(t, slot === 0 ? 'task has no slot' : 'scaled down');
    }
  }
  const kept: Unit[] = [...keep].sort((a, b) => a - b).map((slot) => ({ slot, tasks: sortOldestFirst(bySlot.get(slot) ?? []) }));
  const states = kept.map((u) => processUnit(ctx, u, true));
  rollingUpdate(ctx, kept, states);
  let missing = desired - keep.size;
  for (let slot = 1; missing > 0; slot++) {
    if (keep.has(slot)) continue;
    ctx.plan.add({ slot });
    missing--;
  }
  return { desired, kept };
}

function reconcileGlobal(ctx: Ctx, tasks: Task[]): { desired: number; kept: Unit[] } {
  const constraints = parseConstraints(ctx.service.spec.placement?.constraints);
  const byNode = groupBy(tasks, (t) => t.spec.nodeName ?? '');
  const kept: Unit[] = [];
  const states: UnitState[] = [];
  let desired = 0;
  for (const node of ctx.nodes.values()) {
    const name = node.metadata.name;
    const unit: Unit = { nodeName: name, tasks: sortOldestFirst(byNode.get(name) ?? []) };
    byNode.delete(name);
    const fits = firstUnmet(constraints, constraintTargetOf(node)) === undefined;
    const availability = node.spec.availability ?? 'active';
    const ready = node.status.state === 'ready';
    if (fits && availability !== 'drain') {
      if (ready && availability === 'active') desired++;
      if (!ready) {
        // Down: the node monitor orphans its tasks; replace when it is back.
        trimHistory(ctx, unit);
        kept.push(unit);
        continue;
      }
      kept.push(unit);
      states.push(processUnit(ctx, unit, availability === 'active'));
    } else {
      for (const t of unit.tasks) if (!isTerminal(t.status.state)) ctx.plan.stop(t, availability === 'drain' ? 'node drained' : 'node no longer meets the constraints');
      trimHistory(ctx, unit);
    }
  }
  for (const ts of byNode.values()) {
    for (const t of ts) {
      if (isTerminal(t.status.state)) ctx.plan.drop(t);
      else ctx.plan.stop(t, 'node removed');
    }
  }
  rollingUpdate(ctx, kept.filter((u) => ctx.nodes.get(u.nodeName ?? '')?.status.state === 'ready'), states);
  return { desired, kept };
}

/** Brings one unit to a single desired-running task; returns where it stands for the rolling update. */
function processUnit(ctx: Ctx, u: Unit, mayCreate: boolean): UnitState {
  const { plan } = ctx;
  const place = u.nodeName !== undefined ? { nodeName: u.nodeName } : { slot: u.slot ?? 0 };
  const live: Task[] = [];
  let movedAway = false;
  for (const t of u.tasks) {
    if (t.spec.desiredState !== 'running' || isTerminal(t.status.state)) continue;
    const bad = u.nodeName === undefined ? badNode(ctx, t) : undefined;
    if (bad !== undefined) {
      plan.stop(t, bad);
      movedAway = true;
    } else live.push(t);
  }
  trimHistory(ctx, u);
  retireReplaced(ctx, u, false);
  const rolls = ctx.mode !== 'job';
  const cur = live.filter((t) => !rolls || isCurrent(ctx, t));
  const old = live.filter((t) => rolls && !isCurrent(ctx, t));
  if (cur.length > 0) {
    const [keep, ...extra] = mostAdvancedFirst(cur) as [Task, ...Task[]];
    for (const t of extra) plan.stop(t, 'duplicate task in unit');
    const running = keep.status.state === 'running';
    if (old.length > 0 && (running || ctx.service.spec.update?.order !== 'start-first')) for (const t of old) plan.stop(t, 'replaced by updated task');
    return running && (old.length === 0 || ctx.service.spec.update?.order === 'start-first') ? { kind: 'ok' } : { kind: 'inflight' };
  }
  if (old.length > 0) {
    const [keep, ...extra] = mostAdvancedFirst(old) as [Task, ...Task[]];
    for (const t of extra) plan.stop(t, 'duplicate task in unit');
    return { kind: 'outdated', old: keep };
  }
  // Nothing desired-running: wait for a task we are stopping (stop-first), else create or restart.
  const stopping = u.tasks.some((t) => t.spec.desiredState === 'shutdown' && !isTerminal(t.status.state) && badNode(ctx, t) === undefined);
  if (stopping) return { kind: 'inflight' };
  if (!mayCreate) return { kind: 'ok' };
  const last = u.tasks[u.tasks.length - 1];
  if (last === undefined || movedAway || last.spec.desiredState === 'shutdown') {
    plan.add(place);
    retireReplaced(ctx, u, true);
    return { kind: 'inflight' };
  }
  const d = restartDecision(ctx, last, u.tasks, plan.now);
  if (d === 'now') {
    plan.add(place);
    retireReplaced(ctx, u, true);
    return { kind: 'inflight' };
  }
  if (typeof d === 'number') plan.wakeAt(d);
  return { kind: 'ok' };
}

/**
 * Terminal tasks still desired running that a newer task of the unit replaces (`replacing`:
 * one is being created now, so all of them) get desiredState shutdown.
 */
function retireReplaced(ctx: Ctx, u: Unit, replacing: boolean): void {
  const newest = u.tasks[u.tasks.length - 1];
  for (const t of u.tasks) {
    if (t.spec.desiredState !== 'running' || !isTerminal(t.status.state)) continue;
    if (replacing || t !== newest) ctx.plan.retire(t, t.status.state === 'orphaned' ? 'replaced: its node was down' : 'replaced');
  }
}

/**
 * A task is current when it was made from this generation or runs the same task spec: a spec
 * change that leaves the task spec alone (scaling) does not roll the replicas.
 */
function isCurrent(ctx: Ctx, t: Task): boolean {
  return t.spec.serviceGeneration >= ctx.generation || taskKeyOf(t) === ctx.specKey;
}

/** Stop-first: shut old tasks down (their units refill once they are terminal); start-first: start the new task beside the old one. */
function rollingUpdate(ctx: Ctx, units: Unit[], states: UnitState[]): void {
  const parallelism = ctx.service.spec.update?.parallelism ?? 1;
  let budget = parallelism <= 0 ? Infinity : parallelism - states.filter((s) => s.kind === 'inflight').length;
  const startFirst = ctx.service.spec.update?.order === 'start-first';
  for (let i = 0; i < states.length && budget > 0; i++) {
    const s = states[i];
    const u = units[i];
    if (s?.kind !== 'outdated' || u === undefined) continue;
    budget--;
    const place = u.nodeName !== undefined ? { nodeName: u.nodeName } : { slot: u.slot ?? 0 };
    // A task never placed is simply removed: nothing to wait for, replace it at once.
    if (startFirst || ctx.plan.stop(s.old, 'service updated') === 'removed') ctx.plan.add(place);
  }
}

/** 'now', 'never', or the epoch ms at which the restart delay ends. */
function restartDecision(ctx: Ctx, last: Task, unitTasks: Task[], now: number): 'now' | 'never' | number {
  const state = last.status.state;
  // The node died under the task: that is not the task's failure; replace it at once.
  if (state === 'orphaned') return 'now';
  const policy = ctx.service.spec.restart ?? {};
  const condition = policy.condition ?? (ctx.mode === 'job' ? 'on-failure' : 'any');
  if (ctx.mode === 'job' && state === 'complete' && (last.status.exitCode ?? 0) === 0) return 'never';
  if (condition === 'none') return 'never';
  if (condition === 'on-failure' && state === 'complete' && (last.status.exitCode ?? 0) === 0) return 'never';
  const maxAttempts = policy.maxAttempts ?? 0;
  if (maxAttempts > 0) {
    const windowMs = safeDuration(policy.window, 0);
    // Tasks that ended by themselves, whatever their desiredState now (replaced ones are shutdown).
    const attempts = unitTasks.filter((t) => ENDED_BY_ITSELF.has(t.status.state) && (windowMs === 0 || finishedAt(t) >= now - windowMs)).length;
    if (attempts > maxAttempts) return 'never';
  }
  const at = finishedAt(last) + safeDuration(policy.delay, DEFAULT_RESTART_DELAY_MS);
  return at <= now ? 'now' : at;
}

/** Why a task cannot stay where it is (replicated: drained or deleted node), or undefined. */
function badNode(ctx: Ctx, t: Task): string | undefined {
  const name = t.spec.nodeName;
  if (name === undefined || name === '') return undefined;
  const node = ctx.nodes.get(name);
  if (node === undefined) return 'node removed';
  if (node.spec.availability === 'drain') return 'node drained';
  if (node.status.state !== 'ready' && t.spec.desiredState === 'shutdown') return 'node down';
  return undefined;
}

/** Keeps the newest `history` terminal tasks of a unit; removes older ones. */
function trimHistory(ctx: Ctx, u: Unit): void {
  const terminal = u.tasks.filter((t) => isTerminal(t.status.state));
  for (const t of terminal.slice(0, Math.max(0, terminal.length - ctx.history))) ctx.plan.drop(t);
}

function computeStatus(service: Service, ctx: Ctx, units: Unit[], desired: number, now: number): ServiceStatus {
  let replicas = 0;
  let ready = 0;
  let updated = 0;
  let complete = 0;
  const stopped = new Set(ctx.plan.shutdown.map((d) => d.task.metadata.name));
  // Retiring a replaced task (already terminal) is bookkeeping, not progress still to make.
  const stopping = ctx.plan.shutdown.filter((d) => !isTerminal(d.task.status.state)).length;
  for (const u of units) {
    let unitComplete = false;
    for (const t of u.tasks) {
      if (t.status.state === 'complete' && t.spec.desiredState === 'running') unitComplete = true;
      if (t.spec.desiredState !== 'running' || isTerminal(t.status.state) || stopped.has(t.metadata.name)) continue;
      replicas++;
      if (t.status.state === 'running') {
        ready++;
        if (isCurrent(ctx, t)) updated++;
      }
    }
    if (unitComplete) complete++;
  }
  const prev = service.status?.conditions ?? [];
  const iso = new Date(now).toISOString();
  const conditions: Condition[] = [];
  if (ctx.mode === 'job') {
    const done = complete >= desired;
    conditions.push(cond(prev, 'Complete', done, done ? 'JobComplete' : 'JobRunning', `${complete} of ${desired} completions`, iso));
  } else if (ctx.mode === 'cron') {
    conditions.push(cond(prev, 'Progressing', false, 'Unimplemented', 'cron services are not orchestrated yet', iso));
  } else {
    const available = ready >= desired;
    const converged = available && updated >= desired && replicas === desired && ctx.plan.create.length === 0 && stopping === 0;
    conditions.push(cond(prev, 'Available', available, available ? 'MinimumReplicasAvailable' : 'ReplicasUnavailable', `${ready} of ${desired} replicas running`, iso));
    conditions.push(
      cond(prev, 'Progressing', !converged, converged ? 'Complete' : 'Reconciling', converged ? 'all replicas are running the current generation' : `${updated} of ${desired} replicas updated and running`, iso),
    );
  }
  return { replicas, readyReplicas: ready, updatedReplicas: updated, observedGeneration: ctx.generation, conditions };
}

function cond(prev: Condition[], type: string, ok: boolean, reason: string, message: string, iso: string): Condition {
  const status = ok ? 'True' : 'False';
  const before = prev.find((c) => c.type === type);
  const lastTransitionTime = before !== undefined && before.status === status && before.lastTransitionTime !== undefined ? before.lastTransitionTime : iso;
  return { type, status, reason, message, lastTransitionTime };
}

function placed(t: Task): boolean {
  return t.spec.nodeName !== undefined && t.spec.nodeName !== '' && t.status.state !== 'pending' && t.status.state !== 'new';
}

function finishedAt(t: Task): number {
  const s = t.status.finishedAt ?? t.status.timestamp;
  const ms = s === undefined ? NaN : Date.parse(s);
  return Number.isNaN(ms) ? 0 : ms;
}

/** A duration of a stored spec (validated by the API); the fallback when absent or, for an old object, unreadable. */
function safeDuration(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  try {
    return parseDurationMs(text);
  } catch {
    return fallback;
  }
}

function created(t: Task): number {
  const ms = t.metadata.creationTimestamp === undefined ? NaN : Date.parse(t.metadata.creationTimestamp);
  return Number.isNaN(ms) ? 0 : ms;
}

function sortOldestFirst(ts: Task[]): Task[] {
  return [...ts].sort((a, b) => created(a) - created(b) || Number(a.metadata.resourceVersion ?? 0) - Number(b.metadata.resourceVersion ?? 0) || (a.metadata.name < b.metadata.name ? -1 : 1));
}

function mostAdvancedFirst(ts: Task[]): Task[] {
  return [...ts].sort((a, b) => taskStateIndex(b.status.state) - taskStateIndex(a.status.state) || created(b) - created(a));
}

function groupBy<K>(ts: readonly Task[], key: (t: Task) => K): Map<K, Task[]> {
  const m = new Map<K, Task[]>();
  for (const t of ts) {
    const k = key(t);
    let g = m.get(k);
    if (g === undefined) m.set(k, (g = []));
    g.push(t);
  }
  return m;
}
