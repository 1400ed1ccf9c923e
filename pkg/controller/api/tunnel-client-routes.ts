/**
 * The clients' side of logs and exec through the controller (each opens a stream to the
 * task's agent through the TunnelHub and relays it):
 *
 *   GET  /apis/shoal/v1/namespaces/{ns}/tasks/{name}/log      ?follow&tailLines&timestamps&sinceTime
 *   GET  /apis/shoal/v1/namespaces/{ns}/services/{name}/log   same; entries carry `task`
 *   POST /apis/shoal/v1/namespaces/{ns}/tasks/{name}/exec     ?spec=<base64 JSON>, body = stdin
 *
 * A service log shows the tasks with a live container in slot order; followed, it also
 * attaches the tasks that get a container while it runs (one task watch, reopened after
 * `rewatchMs` when it breaks; a task is never attached twice). Bad query parameters are 400,
 * a bad exec spec 422, before any stream starts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_GROUP_PATH, decodeExecSpecParam, encodeExecSpecParam, errors, parseExecSpec, type ExecSpec, type Task } from '../../api/index.js';
import { clientGone, startNdjson } from '../../httpserver/index.js';
import { sleep } from '../../util/index.js';
import type { ResourceRegistry } from '../registry/index.js';
import type { RouteDeps } from './deps.js';
import { boolQuery, namespaceParam, param, query } from './request.js';
import type { TunnelHub } from './tunnel.js';
import { hasLiveContainer, isReadable, openTaskStream, pumpTaskLog, relayStream } from './tunnel-relay.js';

interface LogQuery {
  follow: boolean;
  /** Engine query parameters. */
  engine: Record<string, string>;
}

/** `follow`, `tailLines`, `timestamps` (entries always carry their time), `sinceTime`. */
function logQuery(req: FastifyRequest): LogQuery {
  const follow = boolQuery(req, 'follow');
  boolQuery(req, 'timestamps'); // checked; NDJSON entries always carry `time`
  const engine: Record<string, string> = {};
  if (follow) engine['follow'] = '1';
  const tail = query(req, 'tailLines');
  if (tail !== undefined && tail !== '') {
    if (!/^\d{1,9}$/.test(tail)) throw errors.invalidArgument(`query parameter tailLines must be a whole number >= 0, got ${JSON.stringify(tail.slice(0, 40))}`);
    engine['tail'] = String(Number(tail));
  }
  const since = query(req, 'sinceTime');
  if (since !== undefined && since !== '') {
    if (!/^\d{1,12}(\.\d+)?$/.test(since) && Number.isNaN(Date.parse(since))) {
      throw errors.invalidArgument(`query parameter sinceTime must be an RFC 3339 time or unix seconds, got ${JSON.stringify(since.slice(0, 40))}`);
    }
    engine['since'] = since;
  }
  return { follow, engine };
}

/** The exec spec of a request: `?spec=<base64 JSON>` (stdin in the body), or a JSON body. */
function execSpecOf(req: FastifyRequest): ExecSpec {
  const q = query(req, 'spec');
  if (q !== undefined && q !== '') {
    return decodeExecSpecParam(q);
  }
  if (req.body !== undefined && !isReadable(req.body)) return parseExecSpec(req.body);
  throw errors.invalidArgument('an exec needs a command: pass ?spec=<base64 JSON {cmd: [...]}> (stdin in the body) or a JSON body {cmd: [...]}');
}

/** Slot order (global services: node order), then name. */
export function compareTasks(a: Task, b: Task): number {
  const sa = a.spec.slot ?? Number.MAX_SAFE_INTEGER;
  const sb = b.spec.slot ?? Number.MAX_SAFE_INTEGER;
  if (sa !== sb) return sa - sb;
  const na = a.spec.nodeName ?? '';
  const nb = b.spec.nodeName ?? '';
  if (na !== nb) return na < nb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** One service log request: whose tasks, with which engine query, until when. */
interface ServiceLog {
  hub: TunnelHub;
  tasks: ResourceRegistry<Task>;
  selector: { namespace: string; fieldSelector: string };
  engine: Record<string, string>;
  /** Fires when the client goes away. */
  signal: AbortSignal;
}

export function clientTunnelRoutes(app: FastifyInstance, deps: RouteDeps, hub: TunnelHub, rewatchMs: number): void {
  const base = `${API_GROUP_PATH}/namespaces/:ns`;

  app.get(`${base}/tasks/:name/log`, async (req, reply) => {
    const ns = namespaceParam(req);
    const q = logQuery(req);
    const task = await deps.registry.tasks.get(ns, param(req, 'name'));
    const { node, s } = await openTaskStream(hub, task, 'logs', q.engine, clientGone(reply));
    await relayStream(reply, node, s, undefined);
    return reply;
  });

  app.post(`${base}/tasks/:name/exec`, async (req, reply) => {
    const ns = namespaceParam(req);
    const spec = execSpecOf(req);
    const stdin = isReadable(req.body) ? req.body : undefined;
    const task = await deps.registry.tasks.get(ns, param(req, 'name'));
    const q: Record<string, string> = { spec: encodeExecSpecParam(spec) };
    if (stdin) q['stdin'] = '1';
    const { node, s } = await openTaskStream(hub, task, 'exec', q, clientGone(reply));
    await relayStream(reply, node, s, stdin);
    return reply;
  });

  app.get(`${base}/services/:name/log`, async (req, reply) => {
    const ns = namespaceParam(req);
    const name = param(req, 'name');
    const q = logQuery(req);
    await deps.registry.services.get(ns, name); // 404 for a service that does not exist
    const log: ServiceLog = {
      hub,
      tasks: deps.registry.tasks,
      selector: { namespace: ns, fieldSelector: `spec.serviceName=${name}` },
      engine: q.engine,
      signal: clientGone(reply),
    };
    if (q.follow) await followServiceLog(log, reply, rewatchMs, req.log);
    else await serviceLogOnce(log, reply);
    return reply;
  });
}

/** The logs of the tasks with a live container now, one task after the other, in slot order. */
async function serviceLogOnce(log: ServiceLog, reply: FastifyReply): Promise<void> {
  const tasks = (await log.tasks.list(log.selector)).items.filter(hasLiveContainer).sort(compareTasks);
  const out = startNdjson(reply);
  try {
    for (const t of tasks) {
      if (log.signal.aborted) break;
      await pumpTaskLog(log.hub, t, log.engine, out, log.signal);
    }
  } finally {
    out.end();
  }
}

/** Follows every task with a container now, and those that get one, until the client leaves. */
async function followServiceLog(log: ServiceLog, reply: FastifyReply, rewatchMs: number, logger: FastifyRequest['log']): Promise<void> {
  const { signal } = log;
  const out = startNdjson(reply);
  const attached = new Set<string>();
  const pumps = new Set<Promise<void>>();
  const consider = (t: Task): void => {
    if (!hasLiveContainer(t) || attached.has(t.metadata.name)) return;
    attached.add(t.metadata.name);
    const p = pumpTaskLog(log.hub, t, log.engine, out, signal).finally(() => pumps.delete(p));
    pumps.add(p);
  };
  try {
    while (!signal.aborted) {
      try {
        for await (const ev of log.tasks.watch({ ...log.selector, signal })) {
          if (ev.type === 'ADDED' || ev.type === 'MODIFIED') consider(ev.object);
          else if (ev.type === 'DELETED') attached.delete(ev.object.metadata.name);
        }
      } catch (err) {
        if (signal.aborted) break;
        logger.warn({ err }, 'service log: the task watch broke; reopening it');
      }
      // The watch ended (store restart, compaction): reopen it; attached tasks are not repeated.
      await sleep(rewatchMs, signal);
    }
  } finally {
    await Promise.allSettled([...pumps]);
    out.end();
  }
}
