/** Small helpers shared by the resource plugins: parameters, query strings, list-or-watch. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, isDnsLabel, type ApiObject, type WatchEvent } from '../../api/index.js';
import { parseBoolParam } from '../../httpserver/index.js';
import type { ResourceRegistry } from '../registry/index.js';
import type { ControllerMetrics } from '../metrics.js';
import { streamWatch } from './watch.js';

export function param(req: FastifyRequest, name: string): string {
  const v = (req.params as Record<string, unknown> | undefined)?.[name];
  if (typeof v !== 'string' || v === '') throw errors.invalidArgument(`missing path parameter ${name}`);
  return v;
}

export function namespaceParam(req: FastifyRequest): string {
  const ns = param(req, 'ns');
  if (!isDnsLabel(ns)) throw errors.invalidArgument(`invalid namespace ${JSON.stringify(ns)}: must be a DNS-1123 label`);
  return ns;
}

/** A single-valued query parameter (repeated parameters are a 400). */
export function query(req: FastifyRequest, name: string): string | undefined {
  const q = req.query as Record<string, unknown> | undefined;
  const v = q?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw errors.invalidArgument(`query parameter ${name} must be given once`);
  return v;
}

export function boolQuery(req: FastifyRequest, name: string): boolean {
  return parseBoolParam(query(req, name), name);
}

/** GET on a collection: a list, or a watch stream with `?watch=1`. */
export async function listOrWatch<T extends ApiObject>(
  req: FastifyRequest,
  reply: FastifyReply,
  rr: ResourceRegistry<T>,
  namespace: string | undefined,
  metrics: ControllerMetrics,
  present: (obj: T) => T = (o) => o,
): Promise<unknown> {
  const q: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {};
  if (namespace !== undefined) q.namespace = namespace;
  const ls = query(req, 'labelSelector');
  if (ls !== undefined) q.labelSelector = ls;
  const fs = query(req, 'fieldSelector');
  if (fs !== undefined) q.fieldSelector = fs;
  if (boolQuery(req, 'watch')) {
    rr.compileSelectors(q); // a bad selector is a 400 before the stream starts
    const rv = query(req, 'resourceVersion');
    await streamWatch(req, reply, metrics, (signal) => presentEvents(rr.watch({ ...q, signal, ...(rv !== undefined ? { resourceVersion: rv } : {}) }), present));
    return reply;
  }
  const list = await rr.list(q);
  return { ...list, items: list.items.map(present) };
}

/** `?resourceVersion=` or DeleteOptions `{preconditions: {resourceVersion}}` of a DELETE. */
export function deletePrecondition(req: FastifyRequest): { resourceVersion?: string } {
  const rv = query(req, 'resourceVersion');
  if (rv !== undefined) return { resourceVersion: rv };
  const b = req.body as { preconditions?: { resourceVersion?: unknown } } | undefined;
  const p = b && typeof b === 'object' ? b.preconditions?.resourceVersion : undefined;
  if (p === undefined || p === null) return {};
  if (typeof p !== 'string') throw errors.invalidArgument('preconditions.resourceVersion must be a string');
  return { resourceVersion: p };
}

async function* presentEvents<T>(events: AsyncIterable<WatchEvent<T>>, present: (obj: T) => T): AsyncGenerator<WatchEvent<T>> {
  for await (const ev of events) yield { ...ev, object: present(ev.object) };
}
