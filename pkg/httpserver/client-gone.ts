import { setMaxListeners } from 'node:events';
import type { FastifyReply } from 'fastify';

/**
 * An AbortSignal that fires when the client goes away before its response is complete: the
 * signal of every long operation a request starts (waits, log follows, exec, tunnelled calls).
 * Any number of listeners may wait on it (a followed service log has one per task).
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}
