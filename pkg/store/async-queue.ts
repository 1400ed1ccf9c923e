/**
 * A push-based async iterator: producers `push`/`fail`/`end`, one consumer iterates. Used
 * by the stores' watches. `onClose` runs exactly once when the iteration ends for any
 * reason (end, failure, consumer `return`, abort), so listeners never leak.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private error: unknown = undefined;
  private closed = false;
  private readonly onAbort = (): void => this.end();

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly onClose: () => void = () => {},
  ) {
    if (signal?.aborted) this.end();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get size(): number {
    return this.buffer.length;
  }

  get isDone(): boolean {
    return this.done;
  }

  push(item: T): void {
    if (this.done) return;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
    } else {
      this.buffer.push(item);
    }
  }

  /** Ends the iteration with an error, after the buffered items. */
  fail(err: unknown): void {
    if (this.done) return;
    this.error = err;
    this.finish();
  }

  /** Ends the iteration normally, after the buffered items. */
  end(): void {
    if (this.done) return;
    this.finish();
  }

  private finish(): void {
    this.done = true;
    this.close();
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      if (this.error !== undefined) w.reject(this.error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.onClose();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift() as T, done: false });
    if (this.done) {
      if (this.error !== undefined) {
        const e = this.error;
        this.error = undefined;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.buffer.length = 0;
    this.error = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
