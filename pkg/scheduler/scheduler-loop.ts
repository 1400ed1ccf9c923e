/**
 * The scheduler's thin loop: event-driven passes over the informers' caches. A pass reads a
 * snapshot of every pending task (`passSnapshot`), builds one node view, and then works in
 * chunks (default 2,000 tasks): each chunk is planned with the pure `planChunk` and written
 * by a `PlanCommitter` in batched transactions of CAS updates, up to `concurrency` txns in
 * flight; the event loop gets a turn between chunks and while waiting for a txn slot, so the
 * API server stays responsive during a 150,000-task pass. Tasks that fit nowhere get
 * `status.message` "no node fits: ..." (written only when it changes) and are retried on the
 * next pass, which runs when nodes change or resources are freed.
 *
 * Committed assignments are "assumed" until the task informer reflects them, so a pass that
 * runs before the watch catches up neither re-places them nor forgets their resources.
 */
import { isTerminal, type Node, type Task } from '../api/index.js';
import { TXN_BATCH_OPS, WorkQueue, type Informer, type TermStore } from '../store/index.js';
import { sleep } from '../util/index.js';
import { schedulerMetrics } from './metrics.js';
import { buildNodeInfos } from './node-info.js';
import { PlanCommitter } from './scheduler-commit.js';
import { AssumedAssignments, isPending, passSnapshot, planChunk } from './scheduler-plan.js';


export interface SchedulerLoopOptions {
  /** Where it writes: the leader term's FencedStore (writes only as transactions). */
  store: TermStore;
  tasks: Informer<Task>;
  nodes: Informer<Node>;
  signal: AbortSignal;
  /** Ops per transaction. Default TXN_BATCH_OPS (127: etcd's default limit less the leader's fence). */
  batchSize?: number;
  /** Transactions in flight at once. Default 3. */
  concurrency?: number;
  /**
   * Pending tasks placed, encoded and committed per chunk of a pass. Default 2,000: bounds the
   * synchronous work between two turns of the event loop and the JSON held at once.
   */
  chunkSize?: number;
  /** Wait this long after an event before a pass, to batch bursts. Default 10 ms. */
  debounceMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
  /** Called after each pass (tests, benchmark). */
  onPass?: (p: PassResult) => void;
}

export interface PassResult {
  placed: number;
  unschedulable: number;
  conflicts: number;
  transactions: number;
}

/** The options of one pass, defaults applied, and what passes share (the assumed assignments). */
interface PassContext {
  store: TermStore;
  tasks: Informer<Task>;
  nodes: Informer<Node>;
  signal: AbortSignal;
  batchSize: number;
  concurrency: number;
  chunkSize: number;
  now: () => number;
  assumed: AssumedAssignments;
}

const PASS_DUE = 'pass';

export async function runSchedulerLoop(opts: SchedulerLoopOptions): Promise<void> {
  const { tasks, nodes, signal } = opts;
  const debounceMs = opts.debounceMs ?? 10;
  const ctx: PassContext = {
    store: opts.store,
    tasks,
    nodes,
    signal,
    batchSize: opts.batchSize ?? TXN_BATCH_OPS,
    concurrency: opts.concurrency ?? 3,
    chunkSize: Math.max(1, opts.chunkSize ?? 2000),
    now: opts.now ?? Date.now,
    assumed: new AssumedAssignments(),
  };
  /** One key, queued while a pass is due (once for any number of events). */
  const queue = new WorkQueue(signal);
  const kick = (): void => queue.add(PASS_DUE);
  kick();
  let unschedulableCount = 0;
  const offTasks = tasks.addHandlers({
    onAdd: (c) => {
      if (isPending(c.object)) kick();
    },
    onUpdate: (prev, cur) => {
      // Also our own "no node fits" writes: one extra pass that writes nothing.
      if (isPending(cur.object)) kick();
      else if (unschedulableCount > 0 && isTerminal(cur.object.status.state) && !isTerminal(prev.object.status.state)) kick();
    },
    onDelete: () => {
      if (unschedulableCount > 0) kick();
    },
  });
  // A node change matters only to tasks that found no node: pending ones kick through their
  // own events. (5,000 nodes joining would otherwise run 5,000 passes over the whole cluster.)
  const nodeChanged = (): void => {
    if (unschedulableCount > 0) kick();
  };
  const offNodes = nodes.addHandlers({ onAdd: nodeChanged, onUpdate: nodeChanged, onDelete: nodeChanged });
  try {
    await Promise.all([tasks.waitForSync(signal), nodes.waitForSync(signal)]);
    while (!signal.aborted) {
      await queue.wait();
      if (debounceMs > 0) await sleep(debounceMs, signal);
      if (signal.aborted) break;
      queue.take(); // events until now are in this pass
      try {
        const r = await runPass(ctx);
        unschedulableCount = r.unschedulable;
        opts.onPass?.(r);
      } catch (err) {
        opts.onError?.(err);
        await sleep(500, signal);
        kick();
      }
    }
  } finally {
    offTasks();
    offNodes();
    queue.close();
  }
}

/** One pass: snapshot, one node view, then plan and commit chunk by chunk. */
async function runPass(ctx: PassContext): Promise<PassResult> {
  const end = schedulerMetrics.passSeconds.startTimer();
  const { all, pending } = passSnapshot(ctx.tasks, ctx.assumed);
  if (pending.length === 0) {
    schedulerMetrics.unschedulable.set(0);
    end();
    return { placed: 0, unschedulable: 0, conflicts: 0, transactions: 0 };
  }
  // One view per pass, shared by its chunks: `planChunk` adds each chunk's placements to it.
  const infos = buildNodeInfos(
    ctx.nodes.list().map((n) => n.object),
    all,
  );
  all.length = 0;
  await breathe();
  const committer = new PlanCommitter(ctx);
  let unschedulable = 0;
  for (let i = 0; i < pending.length && !ctx.signal.aborted; i += ctx.chunkSize) {
    // Encoded here, per chunk, so a pass never holds the JSON of more than one chunk plus the txns in flight.
    const plan = planChunk(pending.slice(i, i + ctx.chunkSize), infos, ctx.now());
    unschedulable += plan.unschedulable;
    await committer.commit(plan);
    await breathe();
  }
  const commit = await committer.drain();
  // A conflicting task changed under us: the informer brings its new version (and a pass if still pending).
  schedulerMetrics.conflicts.inc(commit.conflicts.length);
  schedulerMetrics.unschedulable.set(unschedulable);
  end();
  return { placed: committer.placed, unschedulable, conflicts: commit.conflicts.length, transactions: commit.transactions };
}

/** Lets I/O callbacks (API requests, watch events) run between chunks of a pass. */
function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
