/** Reads '\n'-terminated lines from a stream, one awaited line at a time. */
import type { Readable } from 'node:stream';
import { ShoalError } from '../../api/index.js';

export class LineReader {
  private buf = '';
  private readonly lines: string[] = [];
  private ended = false;
  private waiter: (() => void) | undefined;
  private readonly onData = (chunk: Buffer | string) => {
    this.buf += chunk.toString();
    let i;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      this.lines.push(this.buf.slice(0, i));
      this.buf = this.buf.slice(i + 1);
    }
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };

  constructor(private readonly stream: Readable) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onEnd);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next line, or undefined at end of stream. Rejects with Canceled on abort. */
  async next(signal?: AbortSignal): Promise<string | undefined> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.ended) return undefined;
      if (signal?.aborted) throw new ShoalError('Canceled', 'operation canceled');
      await new Promise<void>((resolve) => {
        const done = () => {
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.waiter = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  close(): void {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.onEnd();
  }
}
