/**
 * The engine API application: one fastify instance, one error handler, one plugin per
 * resource. To add a resource, add its routes to ENGINE_ROUTES (one line) and its dependency
 * to EngineDeps. Tests build the app with `buildEngineApp(deps)` and call `app.inject()`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { frameworkErrorHandler, installErrorHandling } from '../../httpserver/index.js';
import type { ContainerManager, ImageApi } from '../../runtime/index.js';
import { containerRoutes } from './containers.js';
import { imageRoutes } from './images.js';
import { networkRoutes, type NetworkApi } from './networks.js';

export interface EngineDeps {
  images: ImageApi;
  containers?: ContainerManager;
  /** Bridge networks of the node (absent: the /v1/networks routes are not served). */
  networks?: NetworkApi;
  /** Version information for GET /v1/version. */
  version: { Version: string; ApiVersion: string; [k: string]: unknown };
  /** Request logs are at info level: pass a logger at warn to keep only failures. */
  logger?: FastifyBaseLogger;
  /** Largest JSON body accepted (default 1 MiB); streamed bodies (import, exec stdin) are not limited by it. */
  bodyLimit?: number;
}

type Routes = (app: FastifyInstance, deps: EngineDeps) => void;

export const ENGINE_ROUTES: Routes[] = [
  (app, d) => imageRoutes(app, { images: d.images }),
  (app, d) => d.containers && containerRoutes(app, { containers: d.containers }),
  (app, d) => d.networks && networkRoutes(app, { networks: d.networks }),
];

export async function buildEngineApp(deps: EngineDeps): Promise<FastifyInstance> {
  const bodyLimit = deps.bodyLimit ?? 1024 * 1024;
  const app: FastifyInstance = Fastify({
    bodyLimit,
    // Errors the router raises before any handler runs (a malformed URL, a parameter over the limit).
    frameworkErrors: frameworkErrorHandler({ bodyLimit }),
    ...(deps.logger ? { loggerInstance: deps.logger } : {}),
    // Refs in paths are URL-encoded and may be long (registry/host:port/a/b/c:tag@sha256:...).
    routerOptions: { maxParamLength: 2048 },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });
  installErrorHandling(app, { bodyLimit });
  app.get('/_ping', async (_req, reply) => reply.type('text/plain').send('OK'));
  app.get('/v1/version', async () => deps.version);
  for (const routes of ENGINE_ROUTES) {
    await app.register(async (scope) => {
      routes(scope, deps);
    });
  }
  await app.ready();
  return app;
}
