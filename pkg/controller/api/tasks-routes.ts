/** `/apis/shoal/v1/namespaces/{ns}/tasks[/{name}[/status]]` and `/apis/shoal/v1/tasks`. */
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from './deps.js';
import { resourceRoutes } from './resource-routes.js';

export function tasksRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    resourceRoutes(app, deps, deps.registry.tasks);
  };
}
