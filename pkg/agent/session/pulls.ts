/**
 * Image pulls for the task worker.
 *
 * `SharedPulls`: one pull per image at a time, whatever the number of tasks that need it. A
 * 100-replica service starts with 100 tasks missing the same image, and 100 concurrent pulls
 * of it cost seconds of manifest requests and snapshot checks. Every task waiting for the
 * image gets the progress of the one pull and its outcome; the next `pull` after it ended
 * starts a new one. Pulls run under the session's signal.
 *
 * `PullProgress` sums per-layer progress into one `{current, total}`; `ProgressWriter` hands
 * that sum to a writer (the task's `status.progress`) at most once per interval, one write at
 * a time, best effort (a failed write is dropped).
 */
import type { LayerProgress } from '../../api/index.js';
import type { TaskRuntime } from './task-runtime.js';

export type PullListener = (ev: LayerProgress) => void;

export class SharedPulls {
  private readonly pulls = new Map<string, { done: Promise<void>; listeners: Set<PullListener> }>();

  constructor(
    private readonly runtime: Pick<TaskRuntime, 'pull'>,
    private readonly signal: AbortSignal,
  ) {}

  /** Images being pulled now. */
  get inFlight(): number {
    return this.pulls.size;
  }

  /** Pulls `image`, or joins the pull of it under way; `onProgress` sees its events until it ends. */
  async pull(image: string, onProgress: PullListener): Promise<void> {
    let p = this.pulls.get(image);
    if (p === undefined) {
      const listeners = new Set<PullListener>();
      const done = this.runtime
        .pull(image, (ev) => {
          for (const l of listeners) l(ev);
        }, this.signal)
        .finally(() => this.pulls.delete(image));
      p = { done, listeners };
      this.pulls.set(image, p);
    }
    p.listeners.add(onProgress);
    try {
      await p.done;
    } finally {
      p.listeners.delete(onProgress);
    }
  }
}

/** Sums per-layer progress into one {current, total} for `status.progress`. */
export class PullProgress {
  private readonly layers = new Map<string, { current: number; total: number }>();
  add(ev: LayerProgress): void {
    const prev = this.layers.get(ev.id) ?? { current: 0, total: 0 };
    const total = ev.total ?? prev.total;
    const current = ev.status === 'done' || ev.status === 'exists' ? total : (ev.current ?? prev.current);
    this.layers.set(ev.id, { current, total });
  }
  get(): { current: number; total: number } {
    let current = 0;
    let total = 0;
    for (const l of this.layers.values()) {
      current += l.current;
      total += l.total;
    }
    return { current, total };
  }
}

/** Throttled, serialised, best-effort writes of a pull's summed progress. */
export class ProgressWriter {
  private readonly progress = new PullProgress();
  private lastWrite = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly intervalMs: number,
    private readonly write: (p: { current: number; total: number }) => Promise<void>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes one progress event (a PullListener); writes the sum when the interval has passed. */
  readonly add = (ev: LayerProgress): void => {
    this.progress.add(ev);
    const at = this.clock();
    if (at - this.lastWrite < this.intervalMs) return;
    this.lastWrite = at;
    const snapshot = this.progress.get();
    this.writing = this.writing.then(() => this.write(snapshot)).catch(() => undefined); // progress is best effort
  };

  /** Resolves once every write begun so far has ended (never rejects). */
  settled(): Promise<void> {
    return this.writing;
  }
}
