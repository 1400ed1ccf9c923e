/**
 * The controller's HTTP API (DESIGN.md section 4), built with fastify and not listening:
 * `cmd/controller` calls `listen`, tests call `app.inject()`. One plugin per resource; one
 * error handler turns every failure into a V1Status; no client input yields a 500.
 */
import Fastify, { type FastifyError, type FastifyReply, type FastifyInstance, type FastifyBaseLogger } from 'fastify';
import type { ShoalError} from '../../api/index.js';
import { errors, isShoalError, SHOAL_VERSION, toShoalError, toStatus } from '../../api/index.js';
import type { Store } from '../../store/index.js';
import { Registry } from '../registry/index.js';
import { ControllerMetrics } from '../metrics.js';
import { JSON_TYPES, MAX_BODY_BYTES, parseJsonBody, parseYamlBody, YAML_TYPES } from './body.js';
import type { HeartbeatSink, LeaderInfo, RouteDeps } from './deps.js';
import { nodesRoutes } from './nodes-routes.js';
import { servicesRoutes } from './services-routes.js';
import { systemRoutes } from './system-routes.js';
import { tasksRoutes } from './tasks-routes.js';
import { TunnelHub } from './tunnel.js';
import { tunnelRoutes } from './tunnel-routes.js';

export { TunnelHub, type TunnelHubOptions } from './tunnel.js';

export interface ApiServerOptions {
  store: Store;
  /** Defaults to a Registry over `store`. */
  registry?: Registry;
  metrics?: ControllerMetrics;
  heartbeat?: HeartbeatSink;
  leaderInfo?: () => Promise<LeaderInfo> | LeaderInfo;
  /** A pino logger; absent: no request logging. */
  logger?: FastifyBaseLogger;
  version?: string;
  /** Default 3 MiB. */
  bodyLimit?: number;
  /** Agents' tunnels for logs and exec of their tasks; default a hub with default limits. */
  tunnels?: TunnelHub;
}

/** Maps fastify's own errors (content type, body size, bad URL...) onto ShoalError codes. */
export function fromFastifyError(err: unknown): ShoalError {
  if (isShoalError(err)) return err;
  const fe = err as Partial<FastifyError> & { status?: number };
  const status = fe.statusCode ?? fe.status;
  const code = typeof fe.code === 'string' ? fe.code : '';
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) return errors.tooLarge(`the request body is larger than the limit of ${MAX_BODY_BYTES} bytes`);
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
    return errors.invalidArgument(`unsupported content type: send ${[...JSON_TYPES, ...YAML_TYPES].join(', ')}`);
  }
  if (typeof status === 'number' && status >= 400 && status < 500) return errors.invalidArgument(fe.message ?? 'bad request');
  if (err instanceof SyntaxError || err instanceof RangeError) return errors.invalidArgument(`bad request: ${err.message}`);
  return toShoalError(err);
}

export function buildApiServer(opts: ApiServerOptions): FastifyInstance {
  const metrics = opts.metrics ?? new ControllerMetrics();
  const deps: RouteDeps = {
    store: opts.store,
    registry: opts.registry ?? new Registry(opts.store),
    metrics,
    version: opts.version ?? SHOAL_VERSION,
    ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
    ...(opts.leaderInfo ? { leaderInfo: opts.leaderInfo } : {}),
  };
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: opts.bodyLimit ?? MAX_BODY_BYTES,
    routerOptions: { maxParamLength: 512 },
    return503OnClosing: true,
    forceCloseConnections: true,
    // Errors the router raises before any handler runs (malformed URL encoding...).
    frameworkErrors: (err, _req, res) => {
      const status = toStatus(fromFastifyError(err));
      const reply = res as unknown as FastifyReply;
      void reply.code(status.code).type('application/json').send(status);
    },
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...JSON_TYPES], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser([...YAML_TYPES], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseYamlBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const e = fromFastifyError(err);
    if (e.code === 'Internal') req.log.error({ err }, 'internal error');
    const status = toStatus(e);
    if (e.code === 'Unavailable') void reply.header('retry-after', String(e.retryAfterSeconds ?? 1));
    return reply.code(status.code).type('application/json').send(status);
  });
  app.setNotFoundHandler((req, reply) => {
    const status = toStatus(errors.notFound(`no route for ${req.method} ${req.url.split('?')[0] ?? ''}`));
    return reply.code(404).send(status);
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.requestDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  void app.register(systemRoutes(deps));
  void app.register(servicesRoutes(deps));
  void app.register(tasksRoutes(deps));
  void app.register(nodesRoutes(deps));
  void app.register(tunnelRoutes(deps, { hub: opts.tunnels ?? new TunnelHub() }));
  return app;
}
