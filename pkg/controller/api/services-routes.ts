/** `/apis/shoal/v1/namespaces/{ns}/services[/{name}[/status|/scale]]` and `/apis/shoal/v1/services`. */
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from './deps.js';
import { namespaceParam, param } from './request.js';
import { resourceRoutes } from './resource-routes.js';

export function servicesRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    const base = resourceRoutes(app, deps, deps.registry.services);
    app.get(`${base}/:name/scale`, (req) => deps.registry.getScale(namespaceParam(req), param(req, 'name')));
    app.put(`${base}/:name/scale`, (req) => deps.registry.updateScale(namespaceParam(req), param(req, 'name'), req.body));
    app.patch(`${base}/:name/scale`, (req) => deps.registry.updateScale(namespaceParam(req), param(req, 'name'), req.body));
  };
}
