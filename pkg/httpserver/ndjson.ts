/**
 * Streamed answers of newline-delimited JSON (watch events, pull progress, log entries, exec
 * frames): the status line and headers go out at once, each write is one line and waits while
 * the client is slow (backpressure), writes after the client left are no-ops, and a failure
 * after the headers are sent becomes a last line `{"error": <V1Status>}`.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toStatus } from '../api/index.js';
import { clientGone } from './client-gone.js';

export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

/** Writes lines to a hijacked response, waiting for 'drain' when the socket is full. */
export class NdjsonWriter {
  /** One wait for 'drain' shared by every writer (a followed service log has one per task). */
  private drained: Promise<void> | undefined;

  constructor(private readonly res: ServerResponse) {}

  /** True once the client is gone or the stream ended: further writes are dropped. */
  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** Writes one object (or an already encoded JSON line). */
  async write(value: object | string): Promise<void> {
    if (this.closed) return;
    const line = typeof value === 'string' ? value : JSON.stringify(value);
    if (this.res.write(line + '\n')) return;
    const res = this.res;
    this.drained ??= new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        this.drained = undefined;
        resolve();
      };
      res.once('drain', done);
      res.once('close', done);
    });
    await this.drained;
  }

  end(): void {
    if (!this.closed) this.res.end();
  }
}

/** Takes the response over from fastify and sends the 200 and headers now. */
export function startNdjson(reply: FastifyReply, contentType = NDJSON_CONTENT_TYPE): NdjsonWriter {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
  res.flushHeaders();
  return new NdjsonWriter(res);
}

/**
 * Runs `run` with a writer and the client's signal; its result (if any) is the last line, and
 * a failure the `{"error": V1Status}` line. Failures that are the server's own are logged.
 */
export async function streamNdjson(
  request: FastifyRequest,
  reply: FastifyReply,
  run: (out: NdjsonWriter, signal: AbortSignal) => Promise<object | undefined>,
): Promise<void> {
  const signal = clientGone(reply);
  const out = startNdjson(reply);
  try {
    const last = await run(out, signal);
    if (last) await out.write(last);
  } catch (err) {
    const status = toStatus(err);
    if (status.code >= 500 && status.code !== 502 && status.code !== 503 && status.code !== 504) request.log.error({ err }, 'streamed operation failed');
    if (!signal.aborted) await out.write({ error: status });
  } finally {
    out.end();
  }
}
