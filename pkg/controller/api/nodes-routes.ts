/** `/apis/shoal/v1/nodes[/{name}[/status|/heartbeat]]` (cluster-scoped). */
import type { FastifyInstance } from 'fastify';
import { API_GROUP_PATH, ShoalError } from '../../api/index.js';
import type { RouteDeps } from './deps.js';
import { deletePrecondition, listOrWatch, param } from './request.js';

export function nodesRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    const rr = deps.registry.nodes;
    const base = `${API_GROUP_PATH}/nodes`;
    app.get(base, (req, reply) => listOrWatch(req, reply, rr, undefined, deps.metrics));
    app.post(base, async (req, reply) => reply.code(201).send(await rr.create(undefined, req.body)));
    app.get(`${base}/:name`, (req) => rr.get(undefined, param(req, 'name')));
    app.put(`${base}/:name`, (req) => rr.replace(undefined, param(req, 'name'), req.body));
    app.patch(`${base}/:name`, (req) => rr.patch(undefined, param(req, 'name'), req.body));
    app.delete(`${base}/:name`, (req) => rr.delete(undefined, param(req, 'name'), deletePrecondition(req)));
    app.get(`${base}/:name/status`, (req) => rr.get(undefined, param(req, 'name')));
    app.put(`${base}/:name/status`, (req) => rr.replaceStatus(undefined, param(req, 'name'), req.body));
    app.patch(`${base}/:name/status`, (req) => rr.patchStatus(undefined, param(req, 'name'), req.body));
    // Heartbeat: renews the node's lease (no etcd write per beat). 404 until the node registered.
    app.post(`${base}/:name/heartbeat`, async (req) => {
      const name = param(req, 'name');
      if (!deps.heartbeat) throw new ShoalError('Unimplemented', 'this controller does not accept heartbeats');
      await rr.get(undefined, name);
      await deps.heartbeat.beat(name);
      return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success', code: 200, message: `heartbeat of node ${name} recorded` };
    });
  };
}
