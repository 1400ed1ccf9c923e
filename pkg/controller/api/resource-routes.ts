/**
 * The routes every kind has, in Kubernetes' shape, over its ResourceRegistry:
 *
 *   GET    /apis/shoal/v1/<plural>                                 list or watch, all namespaces (namespaced kinds)
 *   GET    /apis/shoal/v1/[namespaces/{ns}/]<plural>               list or watch (?watch=1)
 *   POST   /apis/shoal/v1/[namespaces/{ns}/]<plural>               create (201)
 *   GET|PUT|PATCH|DELETE  .../<plural>/{name}                      read, replace, merge patch, delete
 *   GET|PUT|PATCH         .../<plural>/{name}/status               the status subresource
 *
 * The plural and scope come from the registry's strategy. A kind's own routes (scale,
 * heartbeat) are added by its plugin beside these.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { API_GROUP_PATH, errors, type ApiObject } from '../../api/index.js';
import type { ResourceRegistry } from '../registry/index.js';
import { nodeCertsKey } from '../security/records.js';
import type { RouteDeps } from './deps.js';
import { deletePrecondition, listOrWatch, namespaceParam, param } from './request.js';

/** Registers the collection, object and status routes of `rr`'s kind; returns the collection path. */
export function resourceRoutes<T extends ApiObject>(
  app: FastifyInstance,
  deps: RouteDeps,
  rr: ResourceRegistry<T>,
  /** What a request may see of an object (a secret's value only for an admin who asks). */
  presenter: (req: FastifyRequest) => (obj: T) => T = () => (o) => o,
): string {
  const { plural, namespaced } = rr.strategy;
  const ns = namespaced ? namespaceParam : (): undefined => undefined;
  const base = namespaced ? `${API_GROUP_PATH}/namespaces/:ns/${plural}` : `${API_GROUP_PATH}/${plural}`;
  const name = (req: FastifyRequest): string => param(req, 'name');
  if (namespaced) app.get(`${API_GROUP_PATH}/${plural}`, (req, reply) => listOrWatch(req, reply, rr, undefined, deps.metrics, presenter(req)));
  app.get(base, (req, reply) => listOrWatch(req, reply, rr, ns(req), deps.metrics, presenter(req)));
  const checks = (req: FastifyRequest) => deps.checks<T>(req);
  app.get(`${base}/:name`, async (req) => presenter(req)(await rr.get(ns(req), name(req), checks(req))));
  app.get(`${base}/:name/status`, async (req) => presenter(req)(await rr.get(ns(req), name(req), checks(req))));
  if (rr.strategy.clientWritable === false) {
    const refuse = (): never => {
      throw errors.methodNotAllowed(`${plural} are written by the controller; clients can only get, list and watch them`);
    };
    for (const path of [base, `${base}/:name`, `${base}/:name/status`]) app.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE'], url: path, handler: refuse });
    return base;
  }
  app.post(base, async (req, reply) => reply.code(201).send(presenter(req)(await rr.create(ns(req), req.body, checks(req)))));
  app.put(`${base}/:name`, async (req) => presenter(req)(await rr.replace(ns(req), name(req), req.body, checks(req))));
  app.patch(`${base}/:name`, async (req) => presenter(req)(await rr.patch(ns(req), name(req), req.body, checks(req))));
  app.delete(`${base}/:name`, async (req) => {
    const alsoDelete = plural === 'nodes' ? [nodeCertsKey(name(req))] : [];
    const gone = await rr.delete(ns(req), name(req), { ...deletePrecondition(req), alsoDelete });
    if (plural === 'nodes') deps.heartbeat?.forget?.(name(req));
    return presenter(req)(gone);
  });
  app.put(`${base}/:name/status`, async (req) => presenter(req)(await rr.replaceStatus(ns(req), name(req), req.body, checks(req))));
  app.patch(`${base}/:name/status`, async (req) => presenter(req)(await rr.patchStatus(ns(req), name(req), req.body, checks(req))));
  return base;
}
