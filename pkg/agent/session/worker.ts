/**
 * When each task's pass runs (swarmkit's worker; the pass itself is task-executor.ts).
 *
 * - At most one pass per task at a time: a `kick` while its pass runs marks the task dirty,
 *   and one more pass follows (however many kicks came meanwhile). A failed pass is logged.
 * - `resyncAll` kicks every cached task and every container labelled `shoal.task`, so
 *   containers of tasks that are gone are found too; `resyncEvery` does it periodically once
 *   the task list is known (a backstop for missed events and unwatched exits).
 * - One exit watcher per running container kicks its task when the container stops.
 * - `onSettled` runs after every pass (the session recomputes the ingress ports then).
 *
 * Nothing starts once the signal fired; `idle()` resolves when the passes under way ended.
 * Exit watchers end with the signal (TaskRuntime.waitExit) and are not waited for.
 */
import { CONTAINER_TASK_LABEL, toShoalError } from '../../api/index.js';
import { sleep } from '../../util/index.js';
import type { SessionLogger } from './logger.js';
import type { TaskContainer, TaskRuntime } from './task-runtime.js';

export interface WorkerOptions {
  /** One pass over one task (TaskExecutor.pass). */
  pass(key: string): Promise<void>;
  /** The keys of the cached tasks. */
  taskKeys(): Iterable<string>;
  runtime: Pick<TaskRuntime, 'taskContainers' | 'waitExit'>;
  log: SessionLogger;
  signal: AbortSignal;
  onSettled?(): void;
}

export class Worker {
  private readonly busy = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  /** Containers with an exit watcher. */
  private readonly watched = new Set<string>();

  constructor(private readonly opts: WorkerOptions) {}

  /** Passes under way. */
  get active(): number {
    return this.busy.size;
  }

  /** Runs a pass over task `key` now, or once more after the one under way. */
  kick(key: string): void {
    if (this.opts.signal.aborted) return;
    if (this.busy.has(key)) {
      this.dirty.add(key);
      return;
    }
    const p = this.opts
      .pass(key)
      .catch((err: unknown) => this.opts.log.error({ err: toShoalError(err).message, task: key }, 'task worker failed'))
      .finally(() => {
        this.busy.delete(key);
        if (this.dirty.delete(key)) this.kick(key);
        this.opts.onSettled?.();
      });
    this.busy.set(key, p);
  }

  /** Kicks every cached task and every task that has a container here. */
  resyncAll(): void {
    const keys = new Set(this.opts.taskKeys());
    for (const c of this.opts.runtime.taskContainers()) {
      const k = c.labels[CONTAINER_TASK_LABEL];
      if (k !== undefined) keys.add(k);
    }
    for (const k of keys) this.kick(k);
  }

  /** Every `intervalMs`, `resyncAll` when `ready()`; until the signal fires. */
  async resyncEvery(intervalMs: number, ready: () => boolean): Promise<void> {
    const { signal } = this.opts;
    while (!signal.aborted) {
      await sleep(intervalMs, signal);
      if (ready() && !signal.aborted) this.resyncAll();
    }
  }

  /** Kicks task `key` when its running container stops (one watcher per container). */
  watchExit(key: string, c: TaskContainer): void {
    if (this.watched.has(c.id) || (c.status !== 'running' && c.status !== 'paused')) return;
    this.watched.add(c.id);
    // waitExit never rejects and resolves when the signal fires: nothing to await on close.
    void this.opts.runtime.waitExit(c.id, this.opts.signal).then(() => {
      this.watched.delete(c.id);
      this.kick(key);
    });
  }

  /** Resolves once the passes under way have ended. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.busy.values()]);
  }
}
