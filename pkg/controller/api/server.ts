/**
 * The controller's HTTP API (DESIGN.md section 4), built with fastify and not listening:
 * `cmd/controller` calls `listen`, tests call `app.inject()`. One plugin per resource; one
 * error handler turns every failure into a V1Status; no client input yields a 500.
 */
import Fastify, { type FastifyInstance, type FastifyBaseLogger } from 'fastify';
import { SHOAL_VERSION, type HostPortPolicy } from '../../api/index.js';
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
import { installAuth, identityOf, type PrivilegedFeatures } from './auth.js';
import { secretPresenter, securityRoutes, taskReferenceRoutes } from './security-routes.js';
import { installAudit, type AuditSink } from './audit.js';
import type { ClusterSecurity } from '../security/cluster-security.js';

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
  /**
   * Who may call the API (issue 13): the cluster's security, which authenticates every request
   * but /healthz, /readyz, /version, the CA and join; `'off'` only in unit tests through inject.
   */
  security: ClusterSecurity | 'off';
  /** Serve HTTPS with this certificate, asking clients for theirs (verified against `ca`). */
  tls?: { certPem: string; keyPem: string; caPem: string };
  /** Features of a service only admins may ask for (admission). */
  privileged?: PrivilegedFeatures;
  /** Published ports refused unless allowed (the cluster's own); used when `registry` is not given. */
  hostPorts?: HostPortPolicy;
  /** The audit log (--audit-log): a line per mutating request and per exec. */
  audit?: AuditSink;
}

export function buildApiServer(opts: ApiServerOptions): FastifyInstance {
  const metrics = opts.metrics ?? new ControllerMetrics();
  const deps: RouteDeps = {
    store: opts.store,
    registry: opts.registry ?? new Registry(opts.store, {
      ...(opts.hostPorts ? { hostPorts: opts.hostPorts } : {}),
      ...(opts.security !== 'off' ? { atRest: opts.security.atRest() } : {}),
    }),
    metrics,
    version: opts.version ?? SHOAL_VERSION,
    ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
    ...(opts.leaderInfo ? { leaderInfo: opts.leaderInfo } : {}),
    ...(opts.snapshot ? { snapshot: opts.snapshot } : {}),
    ...(opts.storeHealth ? { storeHealth: opts.storeHealth } : {}),
    checks: () => undefined,
    who: () => 'anonymous',
  };
  let checks: RouteDeps['checks'] = () => undefined;
  deps.checks = (req) => checks(req);
  deps.who = (req) => {
    const id = identityOf(req);
    return id === undefined ? 'anonymous' : id.kind === 'node' ? `node:${id.name}` : id.name;
  };
  if (opts.security !== 'off') deps.security = opts.security;
  const bodyLimit = opts.bodyLimit ?? MAX_BODY_BYTES;
  const mapping = { bodyLimit, contentTypes: [...JSON_TYPES, ...YAML_TYPES] };
  const tls = opts.tls;
  const app = Fastify({
    ...(tls
      ? {
          // Clients are asked for a certificate but not refused without one: a bearer token or
          // a public path may follow. An unverified certificate is refused by auth.ts.
          https: { cert: tls.certPem, key: tls.keyPem, ca: [tls.caPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const },
        }
      : {}),
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
  checks = installAuth(app, { security: opts.security, ...(opts.privileged ? { privileged: opts.privileged } : {}) });
  if (opts.audit) installAudit(app, opts.audit);

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
    resourceRoutes(a, deps, deps.registry.secrets, (req) => secretPresenter(req, opts.security === 'off'));
    resourceRoutes(a, deps, deps.registry.configs);
  });
  void app.register(taskReferenceRoutes(deps));
  void app.register(securityRoutes(deps));
  void app.register(tunnelRoutes(deps, { hub: opts.tunnels ?? new TunnelHub() }));
  return app as unknown as FastifyInstance;
}
