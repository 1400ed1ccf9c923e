/**
 * WorkQueue: the queue of keys a control loop has to look at again, fed by informer handlers
 * and timers (client-go's workqueue, without rate limiting). A key queued many times before
 * the loop takes it is taken once. The loop:
 *
 *   while (!signal.aborted) {
 *     await queue.wait();              // until a key is queued, or the signal fires
 *     for (const key of queue.take()) ...
 *   }
 *   queue.close();                     // in finally: cancels the timers
 *
 * `addAfter(key, ms)` queues a key later; a key has one timer at most, and a newer
 * `addAfter` replaces the older one (the latest decision about a key wins).
 */
export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private wake: (() => void) | undefined;
  private closed = false;
  private readonly onAbort = (): void => this.wake?.();

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Keys queued and not taken yet. */
  get size(): number {
    return this.queued.size;
  }

  add(key: string): void {
    this.queued.add(key);
    this.wake?.();
  }

  /** Queues `key` in `ms` (at once when `ms` <= 0), replacing a timer the key already has. */
  addAfter(key: string, ms: number): void {
    if (this.closed) return;
    const prev = this.timers.get(key);
    if (prev !== undefined) clearTimeout(prev);
    this.timers.set(
      key,
      setTimeout(
        () => {
          this.timers.delete(key);
          this.add(key);
        },
        Math.max(0, ms),
      ),
    );
  }

  /** Resolves once a key is queued or the signal fired (at once if either holds already). */
  async wait(): Promise<void> {
    if (this.queued.size > 0 || this.signal.aborted) return;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    this.wake = undefined;
  }

  /** Every queued key, in the order first queued; the queue is empty after. */
  take(): string[] {
    const keys = [...this.queued];
    this.queued.clear();
    return keys;
  }

  /** Cancels the timers and stops listening to the signal. */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.signal.removeEventListener('abort', this.onAbort);
  }
}
