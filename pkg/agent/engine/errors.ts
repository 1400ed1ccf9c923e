/**
 * The one error handler of the engine API: every error becomes a V1Status with the HTTP status
 * of its ShoalError code. Fastify's own client errors (bad JSON, schema validation, body too
 * large, unsupported content type) map to InvalidArgument / TooLarge, never to 500.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import type { ShoalError} from '../../api/index.js';
import { errors, fromStatus, isShoalError, toStatus } from '../../api/index.js';

export function toEngineError(err: unknown): ShoalError {
  if (isShoalError(err)) return err;
  const fe = err as Partial<FastifyError> & { validation?: unknown };
  if (fe.validation) return errors.invalidArgument(`invalid request: ${fe.message ?? 'validation failed'}`);
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return errors.tooLarge(`request body too large: ${fe.message ?? ''}`.trim());
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return fromStatus(fe.statusCode === 415 ? 400 : fe.statusCode, { message: fe.message ?? `HTTP ${fe.statusCode}` });
  }
  return errors.internal(fe.message ?? String(err), { cause: err });
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const e = toEngineError(err);
    const status = toStatus(e);
    if (e.code === 'Internal') request.log.error({ err }, 'request failed');
    if (e.retryAfterSeconds !== undefined) void reply.header('retry-after', String(e.retryAfterSeconds));
    return reply.code(status.code).type('application/json').send(status);
  });
  app.setNotFoundHandler((request, reply) => {
    const status = toStatus(errors.notFound(`no route for ${request.method} ${request.url.split('?')[0]}`));
    return reply.code(404).send(status);
  });
}
