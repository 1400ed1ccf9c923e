/** `/apis/shoal/v1/namespaces/{ns}/services[/{name}[/status|/scale]]` and `/apis/shoal/v1/services`. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { API_GROUP_PATH } from '../../api/index.js';
import type { RouteDeps } from './deps.js';
import { deletePrecondition, listOrWatch, namespaceParam, param } from './request.js';

export function servicesRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    const rr = deps.registry.services;
    const base = `${API_GROUP_PATH}/namespaces/:ns/services`;
    app.get(`${API_GROUP_PATH}/services`, (req, reply) => listOrWatch(req, reply, rr, undefined, deps.metrics));
    app.get(base, (req, reply) => listOrWatch(req, reply, rr, namespaceParam(req), deps.metrics));
    app.post(base, async (req, reply: FastifyReply) => {
      const created = await rr.create(namespaceParam(req), req.body);
      return reply.code(201).send(created);
    });
    app.get(`${base}/:name`, (req) => rr.get(namespaceParam(req), param(req, 'name')));
    app.put(`${base}/:name`, (req) => rr.replace(namespaceParam(req), param(req, 'name'), req.body));
    app.patch(`${base}/:name`, (req) => rr.patch(namespaceParam(req), param(req, 'name'), req.body));
    app.delete(`${base}/:name`, (req) => rr.delete(namespaceParam(req), param(req, 'name'), deletePrecondition(req)));
    app.get(`${base}/:name/status`, (req) => rr.get(namespaceParam(req), param(req, 'name')));
    app.put(`${base}/:name/status`, (req) => rr.replaceStatus(namespaceParam(req), param(req, 'name'), req.body));
    app.patch(`${base}/:name/status`, (req) => rr.patchStatus(namespaceParam(req), param(req, 'name'), req.body));
    app.get(`${base}/:name/scale`, (req) => deps.registry.getScale(namespaceParam(req), param(req, 'name')));
    app.put(`${base}/:name/scale`, (req) => deps.registry.updateScale(namespaceParam(req), param(req, 'name'), req.body));
    app.patch(`${base}/:name/scale`, (req) => deps.registry.updateScale(namespaceParam(req), param(req, 'name'), req.body));
  };
}
