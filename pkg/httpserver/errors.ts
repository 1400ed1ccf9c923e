/**
 * The one error mapping of Shoal's HTTP servers (the controller API and the engine API):
 * every failure becomes a V1Status with the HTTP status of its ShoalError code, and fastify's
 * own client errors (bad JSON, schema validation, body too large, unsupported content type,
 * malformed URL) become 4xx, never 500. An Unavailable error carries Retry-After.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { errors, fromStatus, isShoalError, toShoalError, toStatus, type ShoalError } from '../api/index.js';

export interface ErrorMappingOptions {
  /** The body limit, for the 413 message. */
  bodyLimit?: number;
  /** Content types the server parses, for the 415 message. */
  contentTypes?: readonly string[];
}

/** Maps anything a handler or fastify threw onto a ShoalError. */
export function fromFastifyError(err: unknown, opts: ErrorMappingOptions = {}): ShoalError {
  if (isShoalError(err)) return err;
  const fe = (err ?? {}) as Partial<FastifyError> & { status?: number; validation?: unknown };
  const status = fe.statusCode ?? fe.status;
  if (fe.validation) return errors.invalidArgument(`invalid request: ${fe.message ?? 'validation failed'}`);
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
    return errors.tooLarge(opts.bodyLimit !== undefined ? `the request body is larger than the limit of ${opts.bodyLimit} bytes` : 'the request body is too large');
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
    return errors.invalidArgument(`unsupported content type${opts.contentTypes ? `: send ${opts.contentTypes.join(', ')}` : ''}`);
  }
  if (typeof status === 'number' && status >= 400 && status < 500) return fromStatus(status, { message: fe.message ?? `HTTP ${status}` });
  if (err instanceof SyntaxError || err instanceof RangeError) return errors.invalidArgument(`bad request: ${err.message}`);
  return toShoalError(err);
}

/** Sends `e` as a V1Status (with Retry-After when it is Unavailable). */
export function sendError(reply: FastifyReply, e: ShoalError): FastifyReply {
  const status = toStatus(e);
  if (e.code === 'Unavailable') void reply.header('retry-after', String(e.retryAfterSeconds ?? 1));
  return reply.code(status.code).type('application/json').send(status);
}

/** Installs the error handler, the 404 handler, and (through `frameworkErrors`) the router's own errors. */
export function installErrorHandling(app: FastifyInstance, opts: ErrorMappingOptions = {}): void {
  app.setErrorHandler((err, req, reply) => {
    const e = fromFastifyError(err, opts);
    if (e.code === 'Internal') req.log.error({ err }, 'internal error');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, errors.notFound(`no route for ${req.method} ${req.url.split('?')[0] ?? ''}`)));
}

/** For fastify's `frameworkErrors` option: errors the router raises before any handler runs. */
export function frameworkErrorHandler(opts: ErrorMappingOptions = {}) {
  return (err: unknown, _req: unknown, res: unknown): void => {
    void sendError(res as FastifyReply, fromFastifyError(err, opts));
  };
}
