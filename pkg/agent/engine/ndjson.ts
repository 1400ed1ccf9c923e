/**
 * Streams newline-delimited JSON answers (pull and push progress, and later logs or events):
 * the status line and headers go out at once, each event is one line, and a failure after the
 * headers are sent becomes a last line `{"error": <V1Status>}`. The operation's signal is
 * aborted when the client goes away.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toStatus } from '../../api/index.js';

export type Emit = (event: object) => void;

export async function streamNdjson(
  request: FastifyRequest,
  reply: FastifyReply,
  run: (emit: Emit, signal: AbortSignal) => Promise<object | undefined>,
): Promise<void> {
  const ac = new AbortController();
  const raw = reply.raw;
  reply.hijack();
  raw.on('close', () => {
    if (!raw.writableFinished) ac.abort();
  });
  raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  const emit: Emit = (event) => {
    if (!raw.destroyed) raw.write(JSON.stringify(event) + '\n');
  };
  try {
    const last = await run(emit, ac.signal);
    if (last) emit(last);
  } catch (err) {
    const status = toStatus(err);
    if (status.code >= 500 && status.code !== 502 && status.code !== 503 && status.code !== 504) {
      request.log.error({ err }, 'streamed operation failed');
    }
    emit({ error: status });
  } finally {
    raw.end();
  }
}
