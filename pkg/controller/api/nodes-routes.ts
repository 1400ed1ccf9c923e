/** `/apis/shoal/v1/nodes[/{name}[/status|/heartbeat]]` (cluster-scoped). */
import type { FastifyInstance } from 'fastify';
import { ShoalError } from '../../api/index.js';
import type { RouteDeps } from './deps.js';
import { param } from './request.js';
import { resourceRoutes } from './resource-routes.js';

export function nodesRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    const rr = deps.registry.nodes;
    const base = resourceRoutes(app, deps, rr);
    // Heartbeat: renews the node's lease (no etcd write per beat). 404 until the node registered.
    app.post(`${base}/:name/heartbeat`, async (req) => {
      const name = param(req, 'name');
      if (!deps.heartbeat) throw new ShoalError('Unimplemented', 'this controller does not accept heartbeats');
      // The Node is read only until this controller renews its lease: a beat is then one lease
      // keep-alive and no etcd read (a deleted node's lease is dropped by the delete, and its
      // certificate refused with it).
      if (deps.heartbeat.holds?.(name) !== true) await rr.get(undefined, name);
      await deps.heartbeat.beat(name);
      return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success', code: 200, message: `heartbeat of node ${name} recorded` };
    });
  };
}
