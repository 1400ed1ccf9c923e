/**
 * Watch streams: newline-delimited JSON `{type, object}` events. The first event (or failure)
 * is awaited briefly before the status line is sent, so an immediate failure such as a
 * compacted resourceVersion is a plain `410` V1Status. A failure after the stream started is
 * sent as an `ERROR` event carrying the V1Status, then the stream ends (Kubernetes does the
 * same). The store watch is released when the client disconnects.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toShoalError, toStatus, type WatchEvent } from '../../api/index.js';
import { startNdjson } from '../../httpserver/index.js';
import { settle, type Settled } from '../../util/index.js';
import type { ControllerMetrics } from '../metrics.js';

/** Idle time before TCP keep-alive probes start on a watch's connection. */
const WATCH_KEEPALIVE_MS = 15_000;

/** How long to wait for the first event before committing to a 200. */
const FIRST_EVENT_GRACE_MS = 150;


export async function streamWatch<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  metrics: ControllerMetrics,
  open: (signal: AbortSignal) => AsyncIterable<WatchEvent<T>>,
): Promise<void> {
  const ac = new AbortController();
  const onClose = (): void => ac.abort();
  req.raw.once('close', onClose);
  reply.raw.once('close', onClose);
  const it = open(ac.signal)[Symbol.asyncIterator]();
  let pending: Promise<Settled<IteratorResult<WatchEvent<T>>>> = settle(it.next());
  let timer: NodeJS.Timeout | undefined;
  const early = await Promise.race([pending, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), FIRST_EVENT_GRACE_MS)))]);
  clearTimeout(timer);
  if (early && !early.ok) {
    ac.abort();
    req.raw.off('close', onClose);
    reply.raw.off('close', onClose);
    throw early.err;
  }
  // Kubernetes sends watch streams as application/json (one event per line).
  const out = startNdjson(reply, 'application/json');
  // A watcher cut off by a partition sends nothing and may get nothing for a long time: TCP
  // keep-alive probes (idle 15 s, then 10 probes a second apart, as node sets them) end the
  // stream of a dead peer instead of holding it until a write times out, minutes later.
  req.raw.socket?.setKeepAlive(true, WATCH_KEEPALIVE_MS);
  metrics.watches.inc();
  try {
    for (;;) {
      const r = await pending;
      if (!r.ok) {
        if (!ac.signal.aborted) {
          const e = toShoalError(r.err);
          if (e.code === 'Internal') req.log.error({ err: r.err }, 'watch failed');
          await out.write({ type: 'ERROR', object: toStatus(e) });
        }
        break;
      }
      if (r.value.done || ac.signal.aborted) break;
      await out.write(JSON.stringify(r.value.value));
      pending = settle(it.next());
    }
  } finally {
    metrics.watches.dec();
    ac.abort();
    req.raw.off('close', onClose);
    await it.return?.(undefined).catch(() => undefined);
    out.end();
  }
}
