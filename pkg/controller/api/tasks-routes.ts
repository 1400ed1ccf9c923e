/** `/apis/shoal/v1/namespaces/{ns}/tasks[/{name}[/status]]` and `/apis/shoal/v1/tasks`. */
import type { FastifyInstance } from 'fastify';
import { API_GROUP_PATH } from '../../api/index.js';
import type { RouteDeps } from './deps.js';
import { deletePrecondition, listOrWatch, namespaceParam, param } from './request.js';

export function tasksRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    const rr = deps.registry.tasks;
    const base = `${API_GROUP_PATH}/namespaces/:ns/tasks`;
    app.get(`${API_GROUP_PATH}/tasks`, (req, reply) => listOrWatch(req, reply, rr, undefined, deps.metrics));
    app.get(base, (req, reply) => listOrWatch(req, reply, rr, namespaceParam(req), deps.metrics));
    app.post(base, async (req, reply) => reply.code(201).send(await rr.create(namespaceParam(req), req.body)));
    app.get(`${base}/:name`, (req) => rr.get(namespaceParam(req), param(req, 'name')));
    app.put(`${base}/:name`, (req) => rr.replace(namespaceParam(req), param(req, 'name'), req.body));
    app.patch(`${base}/:name`, (req) => rr.patch(namespaceParam(req), param(req, 'name'), req.body));
    app.delete(`${base}/:name`, (req) => rr.delete(namespaceParam(req), param(req, 'name'), deletePrecondition(req)));
    app.get(`${base}/:name/status`, (req) => rr.get(namespaceParam(req), param(req, 'name')));
    app.put(`${base}/:name/status`, (req) => rr.replaceStatus(namespaceParam(req), param(req, 'name'), req.body));
    app.patch(`${base}/:name/status`, (req) => rr.patchStatus(namespaceParam(req), param(req, 'name'), req.body));
  };
}
