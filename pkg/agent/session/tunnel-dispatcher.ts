/**
 * The tunnel's request dispatcher: what each line from the controller starts or stops.
 * `ping` does nothing (the connection saw a line, that is all); `cancel` aborts the request
 * with that id; a request is served under its own AbortController, unless one with the same
 * id is under way (ignored) or `maxStreams` are (refused, through `refuse`). A failure while
 * serving is logged unless the request was aborted. The dispatcher's signal aborts every
 * request; `idle()` resolves once all have ended.
 */
import { toShoalError, type TunnelLine, type TunnelRequest } from '../../api/index.js';
import type { SessionLogger } from './logger.js';

export interface TunnelDispatcherOptions {
  /** Serves a request until it is answered or its signal fires. */
  serve(r: TunnelRequest, signal: AbortSignal): Promise<void>;
  /** Answers a request beyond the limit with a refusal. */
  refuse(r: TunnelRequest, signal: AbortSignal): Promise<void>;
  /** Requests served at once. */
  maxStreams: number;
  log: SessionLogger;
  signal: AbortSignal;
}

export class TunnelDispatcher {
  private readonly active = new Map<string, AbortController>();
  private readonly serving = new Set<Promise<void>>();

  constructor(private readonly opts: TunnelDispatcherOptions) {}

  /** Requests being served (refusals included while they are sent). */
  activeStreams(): number {
    return this.active.size;
  }

  dispatch(line: TunnelLine): void {
    if (line.op === 'ping') return;
    if (line.op === 'cancel') {
      this.active.get(line.id)?.abort();
      return;
    }
    if (this.active.has(line.id)) return;
    const { signal, log } = this.opts;
    const reqAc = new AbortController();
    const onStop = (): void => reqAc.abort();
    signal.addEventListener('abort', onStop, { once: true });
    this.active.set(line.id, reqAc);
    const work = this.active.size > this.opts.maxStreams ? this.opts.refuse(line, reqAc.signal) : this.opts.serve(line, reqAc.signal);
    const p: Promise<void> = work
      .catch((err: unknown) => {
        if (!reqAc.signal.aborted) log.warn({ id: line.id, op: line.op, task: line.task, err: toShoalError(err).message }, 'tunnel: serving a request failed');
      })
      .finally(() => {
        signal.removeEventListener('abort', onStop);
        this.active.delete(line.id);
        this.serving.delete(p);
      });
    this.serving.add(p);
  }

  /** Resolves once every request under way has ended. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.serving]);
  }
}
