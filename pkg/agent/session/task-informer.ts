/**
 * The tasks assigned to this node, list-watched from the controller: pkg/store/informer.ts's
 * shape over the API instead of the store. It lists with `fieldSelector=spec.nodeName=<node>`
 * (all namespaces), watches from the list's resourceVersion, and when the stream ends
 * (controller restart, leader change) or fails (410 Gone included) it backs off and relists;
 * failures other than Gone are logged once per outage. `relist()` drops whatever it is doing
 * (a list, a watch, a pause) and lists again at once: the session calls it when the controller
 * is reachable again after an outage, since a watch opened before a partition can hang on a
 * dead connection without ending, and a pause may be seconds long. The cache is keyed by taskRef
 * (`<ns>/<name>`); a relist replaces it (tasks missing from the list are dropped), a watch
 * event moves one task forward (an older resourceVersion never overwrites a newer one).
 * Handlers run synchronously once the cache has changed: `onSync` after every list,
 * `onChange(key)` after every watch event. The session's own status writes land in the cache
 * too (`observeWrite`, `set`), so a worker's next step sees what it wrote.
 */
import { isShoalError, taskRef, toShoalError, type Task, type WatchEvent } from '../../api/index.js';
import { sleep, type Backoff } from '../../util/index.js';
import type { ControllerApi } from './controller-api.js';
import type { SessionLogger } from './logger.js';

export interface TaskInformerHandlers {
  /** After every successful (re)list: the cache holds the controller's list. */
  onSync?(): void;
  /** After every watch event, with its task's key (also when the event changed nothing). */
  onChange?(key: string): void;
}

export interface TaskInformerOptions {
  api: Pick<ControllerApi, 'listTasks' | 'watchTasks'>;
  nodeName: string;
  log: SessionLogger;
  /** A fresh backoff for the relist loop. */
  backoff(): Backoff;
}

const rvNum = (t: Task): number => Number(t.metadata.resourceVersion ?? '0');

export class TaskInformer {
  private readonly cache = new Map<string, Task>();
  private readonly handlers = new Set<TaskInformerHandlers>();
  private listed = false;
  private running = false;
  /** The list-and-watch under way (or the pause after a failure); `relist()` aborts it. */
  private attempt: AbortController | undefined;
  private relistAsked = false;

  constructor(private readonly opts: TaskInformerOptions) {}

  /** Registers handlers; returns a function that removes them. */
  addHandlers(h: TaskInformerHandlers): () => void {
    this.handlers.add(h);
    return () => {
      this.handlers.delete(h);
    };
  }

  /** True once a task list has been read (containers of unknown tasks are removed only then). */
  synced(): boolean {
    return this.listed;
  }

  get(key: string): Task | undefined {
    return this.cache.get(key);
  }

  get size(): number {
    return this.cache.size;
  }

  keys(): IterableIterator<string> {
    return this.cache.keys();
  }

  entries(): IterableIterator<[string, Task]> {
    return this.cache.entries();
  }

  /** Records a version of a task unless the cache holds a newer one. */
  observe(t: Task): void {
    const key = taskRef(t);
    const cur = this.cache.get(key);
    if (cur === undefined || rvNum(t) >= rvNum(cur)) this.cache.set(key, t);
  }

  /**
   * Records the answer to a status write, unless the watch delivered the task's deletion while
   * the write was in flight: a deleted task must not come back (its container would then never
   * be removed).
   */
  observeWrite(t: Task): void {
    if (this.cache.has(taskRef(t))) this.observe(t);
  }

  /** Records a task as just re-read from the controller; undefined: it is gone. */
  set(key: string, t: Task | undefined): void {
    if (t === undefined) this.cache.delete(key);
    else this.cache.set(key, t);
  }

  /** Lists again now, dropping the list, watch or pause under way (a no-op before `run`). */
  relist(): void {
    this.relistAsked = true;
    this.attempt?.abort();
  }

  /** Lists and watches until `signal` fires. Call once. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error('task informer: run called twice');
    this.running = true;
    const { api, nodeName, log } = this.opts;
    const selector = `spec.nodeName=${nodeName}`;
    const backoff = this.opts.backoff();
    while (!signal.aborted) {
      const attempt = new AbortController();
      const stop = (): void => attempt.abort();
      signal.addEventListener('abort', stop, { once: true });
      this.attempt = attempt;
      try {
        if (this.relistAsked) backoff.reset();
        this.relistAsked = false;
        const list = await api.listTasks(selector, { signal: attempt.signal });
        this.replace(list.items);
        backoff.reset();
        for (const h of [...this.handlers]) h.onSync?.();
        for await (const ev of api.watchTasks(selector, list.metadata.resourceVersion, attempt.signal)) {
          const key = this.apply(ev);
          for (const h of [...this.handlers]) h.onChange?.(key);
        }
        // The stream ended (controller restart, leader change) or relist() cut it: relist.
      } catch (err) {
        if (signal.aborted) break;
        if (attempt.signal.aborted) continue; // relist() asked: at once
        if (!isShoalError(err, 'Gone') && backoff.failures === 0) log.warn({ err: toShoalError(err).message }, 'task watch failed; relisting with backoff');
        await sleep(backoff.next(), attempt.signal);
      } finally {
        signal.removeEventListener('abort', stop);
        this.attempt = undefined;
      }
    }
  }

  /** The cache becomes the list (only this node's tasks). */
  private replace(items: readonly Task[]): void {
    const seen = new Set<string>();
    for (const t of items) {
      if (t.spec.nodeName !== this.opts.nodeName) continue;
      const key = taskRef(t);
      seen.add(key);
      this.cache.set(key, t);
    }
    for (const k of [...this.cache.keys()]) if (!seen.has(k)) this.cache.delete(k);
    this.listed = true;
  }

  /** Applies one watch event; returns its task's key. A task moved to another node is gone here. */
  private apply(ev: WatchEvent<Task>): string {
    const key = taskRef(ev.object);
    if (ev.type === 'DELETED' || ev.object.spec.nodeName !== this.opts.nodeName) this.cache.delete(key);
    else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.observe(ev.object);
    return key;
  }
}
