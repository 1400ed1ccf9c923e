/**
 * The controller's HTTP API (DESIGN.md section 4), built with fastify and not listening:
 * `cmd/controller` calls `listen`, tests call `app.inject()`. One plugin per resource; one
 * error handler turns every failure into a V1Status; no client input yields a 500.
 */
import Fastify, { type FastifyInstance, type FastifyBaseLogger } from 'fastify';
import { SHOAL_VERSION } from '../../api/index.js';
import { frameworkErrorHandler, installErrorHandling } from '../../httpserver/index.js';
import type { EtcdHealth, Store } from '../../store/index.js';
import { Registry } from '../registry/index.js';
import { ControllerMetrics } from '../metrics.js';
import { JSON_TYPES, MAX_BODY_BYTES, parseJsonBody, parseYamlBody, YAML_TYPES } from './body.js';
import type { HeartbeatSink, LeaderInfo, RouteDeps } from './deps.js';
import { nodesRoutes } from './nodes-routes.js';
import { resourceRoutes } from './resource-routes.js';
import { servicesRoutes } from './services-routes.js';
import { systemRoutes } from './system-routes.js';
import { backupRoutes } from './backup-routes.js';
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
  /** Backups (`GET /apis/shoal/v1/cluster/backup`): the store's snapshot; absent: 501. */
  snapshot?: (signal: AbortSignal) => AsyncIterable<Uint8Array>;
  /** The etcd cluster's health for cluster info. */
  storeHealth?: () => EtcdHealth;
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
    ...(opts.snapshot ? { snapshot: opts.snapshot } : {}),
    ...(opts.storeHealth ? { storeHealth: opts.storeHealth } : {}),
  };
  const bodyLimit = opts.bodyLimit ?? MAX_BODY_BYTES;
  const mapping = { bodyLimit, contentTypes: [...JSON_TYPES, ...YAML_TYPES] };
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit,
    routerOptions: { maxParamLength: 512 },
    return503OnClosing: true,
    forceCloseConnections: true,
    // Errors the router raises before any handler runs (malformed URL encoding...).
    frameworkErrors: frameworkErrorHandler(mapping),
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

  installErrorHandling(app, mapping);

  app.addHook('onResponse', async (req, reply) => {
    metrics.requestDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  void app.register(systemRoutes(deps));
  void app.register(backupRoutes(deps));
  void app.register(servicesRoutes(deps));
  void app.register(tasksRoutes(deps));
  void app.register(nodesRoutes(deps));
  void app.register(async (a) => {
    resourceRoutes(a, deps, deps.registry.networks);
    resourceRoutes(a, deps, deps.registry.endpoints);
  });
  void app.register(tunnelRoutes(deps, { hub: opts.tunnels ?? new TunnelHub() }));
  return app;
}
