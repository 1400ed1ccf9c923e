/**
 * Logs and exec of cluster tasks through the controller (the HTTP shell around TunnelHub):
 *
 *   agents:  GET  /apis/shoal/v1/nodes/{node}/tunnel          held open; NDJSON requests + pings
 *            POST /apis/shoal/v1/nodes/{node}/tunnel/{id}     body: the engine's answer;
 *                                                             response body: stdin for the engine
 *   clients: GET  /apis/shoal/v1/namespaces/{ns}/tasks/{name}/log      ?follow&tailLines&timestamps&sinceTime
 *            GET  /apis/shoal/v1/namespaces/{ns}/services/{name}/log   same, entries carry `task`
 *            POST /apis/shoal/v1/namespaces/{ns}/tasks/{name}/exec     ?spec=<base64 JSON>, body = stdin
 *
 * Log entries and exec frames are the engine's NDJSON (pkg/agent/engine/containers.ts). A
 * client that goes away tears the agent's request down, which aborts its engine request.
 * docs/api.md ("Logs and exec through the controller") has the sequence.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { PassThrough, Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  API_GROUP_PATH, decodeExecSpecParam, encodeExecSpecParam, errors, fromResponseText, isTerminal, parseExecSpec, STREAM_CONTENT_TYPE, taskRef, toShoalError, toStatus,
  TUNNEL_STATUS_HEADER, type ExecSpec, type ShoalError, type Task,
} from '../../api/index.js';
import { clientGone, NDJSON_CONTENT_TYPE, startNdjson, type NdjsonWriter } from '../../httpserver/index.js';
import { ndjsonLines, readText } from '../../util/index.js';
import type { RouteDeps } from './deps.js';
import { boolQuery, namespaceParam, param, query } from './request.js';
import type { AgentLink, TunnelHub, TunnelStream } from './tunnel.js';

export { STREAM_CONTENT_TYPE, TUNNEL_STATUS_HEADER } from '../../api/index.js';
/** Largest error document read from an agent. */
const MAX_ERROR_BYTES = 64 * 1024;
/** A tunnel whose unsent output grows past this is dead or stuck: it is cut and the agent reconnects. */
const MAX_TUNNEL_BACKLOG = 256 * 1024;

export interface TunnelRoutesOptions {
  hub: TunnelHub;
  /** Interval of `{"op":"ping"}` lines on every tunnel. Default 15 s (agents give up after 45 s of silence). */
  keepaliveMs?: number;
  /** Pause before a broken task watch of a followed service log is reopened. Default 1 s. */
  rewatchMs?: number;
}

// ── small helpers ─────────────────────────────────────────────────────────────────────────

function isReadable(v: unknown): v is Readable {
  return v instanceof Readable || (v !== null && typeof v === 'object' && typeof (v as Readable).pipe === 'function' && typeof (v as Readable).on === 'function');
}

/** Adds `"task": name` in front of an NDJSON object line without parsing it. */
export function withTask(task: string, line: string): string {
  const head = `{"task":${JSON.stringify(task)}`;
  if (!line.startsWith('{')) return `${head},"error":${JSON.stringify(toStatus(errors.upstream('the agent sent a line that is not a JSON object')))}}`;
  const rest = line.slice(1).trimStart();
  return rest.startsWith('}') ? `${head}}` : `${head},${rest}`;
}

/** Reads the agent's error answer (a V1Status from the engine or the agent) into a ShoalError. */
async function errorOf(s: TunnelStream, node: string): Promise<ShoalError> {
  try {
    return fromResponseText(s.status, await readText(s.body, MAX_ERROR_BYTES).catch(() => ''), `node ${node}`);
  } finally {
    s.close();
  }
}

/** The node and container of a task that can be reached, or a clear error. */
export function taskTarget(task: Task): { node: string; container: string } {
  const name = task.metadata.name;
  const state = task.status?.state ?? 'new';
  const container = task.status?.containerId;
  const node = task.spec.nodeName;
  if (container === undefined || container === '') {
    throw errors.failedPrecondition(`task ${name} has no container yet (state: ${state})`, { kind: 'tasks', name });
  }
  if (node === undefined || node === '') {
    throw errors.failedPrecondition(`task ${name} is not assigned to a node (state: ${state})`, { kind: 'tasks', name });
  }
  return { node, container };
}

/** Tasks whose logs a service log shows: those with a live container. */
export function hasLiveContainer(task: Task): boolean {
  return !!task.status?.containerId && !!task.spec.nodeName && !isTerminal(task.status.state);
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

export interface LogQuery {
  follow: boolean;
  /** Engine query parameters. */
  engine: Record<string, string>;
}

/** `follow`, `tailLines`, `timestamps` (entries always carry their time), `sinceTime`. */
export function logQuery(req: FastifyRequest): LogQuery {
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

// ── the plugin ────────────────────────────────────────────────────────────────────────────

export function tunnelRoutes(deps: RouteDeps, opts: TunnelRoutesOptions) {
  const hub = opts.hub;
  const keepaliveMs = opts.keepaliveMs ?? 15_000;
  const rewatchMs = opts.rewatchMs ?? 1_000;

  /** Relays one answer to the client: the NDJSON body out, `stdin` (if any) in. */
  async function relay(reply: FastifyReply, node: string, s: TunnelStream, stdin: Readable | undefined): Promise<void> {
    const out = startNdjson(reply);
    const res = reply.raw;
    const onGone = (): void => {
      if (!res.writableFinished) s.close();
    };
    res.once('close', onGone);
    // Without stdin the answer to the agent stays open until its body is over (see finally).
    if (stdin) {
      stdin.on('error', () => s.close());
      stdin.pipe(s.stdin);
    }
    try {
      for await (const line of ndjsonLines(s.body)) await out.write(line);
    } catch (err) {
      if (!res.destroyed) {
        const e = toShoalError(err);
        const why = e.code === 'Internal' || e.code === 'Canceled' ? errors.unavailable(`the stream from node ${node} broke: ${e.message}`) : e;
        await out.write({ error: toStatus(why) });
      }
      s.close();
    } finally {
      res.off('close', onGone);
      if (stdin) {
        // The command is over: what the client still sends is not for anyone.
        stdin.unpipe(s.stdin);
        stdin.resume();
      }
      if (!s.stdin.writableEnded) s.stdin.end();
      out.end();
    }
  }

  /** Opens a task's stream, failing with the agent's error when it answered with one. */
  async function openTask(task: Task, op: 'logs' | 'exec', q: Record<string, string>, signal: AbortSignal): Promise<{ node: string; s: TunnelStream }> {
    const { node, container } = taskTarget(task);
    const s = await hub.open(node, { op, container, task: taskRef(task), query: q }, signal);
    if (s.status < 200 || s.status >= 300) throw await errorOf(s, node);
    return { node, s };
  }

  /** One task's log entries into a service log, each with its task; failures become one error line. */
  async function pumpTask(task: Task, q: Record<string, string>, out: NdjsonWriter, signal: AbortSignal): Promise<void> {
    const name = task.metadata.name;
    let opened: { node: string; s: TunnelStream };
    try {
      opened = await openTask(task, 'logs', q, signal);
    } catch (err) {
      if (!signal.aborted) await out.write({ task: name, error: toStatus(err) });
      return;
    }
    const { node, s } = opened;
    const onAbort = (): void => s.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const line of ndjsonLines(s.body)) {
        if (signal.aborted) break;
        await out.write(withTask(name, line));
      }
    } catch (err) {
      if (!signal.aborted) {
        const e = toShoalError(err);
        await out.write({ task: name, error: toStatus(e.code === 'Upstream' ? e : errors.unavailable(`the log stream from node ${node} broke: ${e.message}`)) });
      }
      s.close();
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!s.stdin.writableEnded) s.stdin.end();
    }
  }

  return async (app: FastifyInstance): Promise<void> => {
    // Stream bodies (the agent's answers, exec stdin) are handed to the handler unread.
    app.addContentTypeParser(STREAM_CONTENT_TYPE, (_req, payload, done) => done(null, payload));
    app.addHook('onClose', async () => hub.close());

    // ── agents ──
    app.get(`${API_GROUP_PATH}/nodes/:name/tunnel`, async (req, reply) => {
      const node = param(req, 'name');
      await deps.registry.nodes.get(undefined, node); // only registered nodes hold a tunnel
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': NDJSON_CONTENT_TYPE, 'cache-control': 'no-cache' });
      res.flushHeaders();
      req.raw.socket.setKeepAlive(true, keepaliveMs);
      req.raw.socket.setNoDelay(true);
      const link: AgentLink = {
        send(line) {
          if (!res.destroyed && !res.writableEnded) res.write(line + '\n');
        },
        close() {
          if (!res.writableEnded) res.end();
        },
      };
      const release = hub.connect(node, link);
      const ping = setInterval(() => {
        if (res.writableLength > MAX_TUNNEL_BACKLOG) res.destroy();
        else link.send('{"op":"ping"}');
      }, keepaliveMs);
      res.once('close', () => {
        clearInterval(ping);
        release();
      });
      return reply;
    });

    app.post(`${API_GROUP_PATH}/nodes/:name/tunnel/:id`, async (req, reply) => {
      const node = param(req, 'name');
      const id = param(req, 'id');
      const h = req.headers[TUNNEL_STATUS_HEADER];
      const status = h === undefined ? 200 : Number(h);
      if (!Number.isInteger(status) || status < 200 || status > 599) throw errors.invalidArgument(`header ${TUNNEL_STATUS_HEADER} must be an HTTP status (200-599)`);
      const body = isReadable(req.body) ? req.body : Readable.from([]);
      const res = reply.raw;
      const stdin = new PassThrough();
      let settle!: () => void;
      const closed = new Promise<void>((r) => (settle = r));
      req.raw.once('close', () => settle());
      res.once('close', () => {
        if (!res.writableFinished) settle();
      });
      const stream: TunnelStream = {
        status,
        body,
        stdin,
        closed,
        close() {
          stdin.destroy();
          req.raw.destroy();
          res.destroy();
        },
      };
      if (!hub.answer(node, id, stream)) {
        throw errors.notFound(`no request ${id} of node ${node} waits for an answer (canceled, timed out, or answered already)`);
      }
      reply.hijack();
      res.writeHead(200, { 'content-type': STREAM_CONTENT_TYPE, 'cache-control': 'no-cache' });
      res.flushHeaders();
      stdin.pipe(res);
      // Our response (stdin) may end while the agent's body still flows (an exec whose input
      // ended): node then arms the keep-alive idle timeout on the socket, which would cut a
      // quiet command. The request is not over, so the socket stays without a timeout.
      res.once('finish', () => {
        if (!req.raw.complete) setImmediate(() => req.raw.socket?.setTimeout(0));
      });
      return reply;
    });

    // ── clients ──
    const base = `${API_GROUP_PATH}/namespaces/:ns`;

    app.get(`${base}/tasks/:name/log`, async (req, reply) => {
      const ns = namespaceParam(req);
      const q = logQuery(req);
      const task = await deps.registry.tasks.get(ns, param(req, 'name'));
      const { node, s } = await openTask(task, 'logs', q.engine, clientGone(reply));
      await relay(reply, node, s, undefined);
      return reply;
    });

    app.post(`${base}/tasks/:name/exec`, async (req, reply) => {
      const ns = namespaceParam(req);
      const spec = execSpecOf(req);
      const stdin = isReadable(req.body) ? req.body : undefined;
      const task = await deps.registry.tasks.get(ns, param(req, 'name'));
      const q: Record<string, string> = { spec: encodeExecSpecParam(spec) };
      if (stdin) q['stdin'] = '1';
      const { node, s } = await openTask(task, 'exec', q, clientGone(reply));
      await relay(reply, node, s, stdin);
      return reply;
    });

    app.get(`${base}/services/:name/log`, async (req, reply) => {
      const ns = namespaceParam(req);
      const name = param(req, 'name');
      const q = logQuery(req);
      await deps.registry.services.get(ns, name); // 404 for a service that does not exist
      const signal = clientGone(reply);
      const selector = { namespace: ns, fieldSelector: `spec.serviceName=${name}` };
      if (!q.follow) {
        const tasks = (await deps.registry.tasks.list(selector)).items.filter(hasLiveContainer).sort(compareTasks);
        const out = startNdjson(reply);
        try {
          for (const t of tasks) {
            if (signal.aborted) break;
            await pumpTask(t, q.engine, out, signal);
          }
        } finally {
          out.end();
        }
        return reply;
      }
      // Follow: every task with a container now, and those that get one while we follow.
      const out = startNdjson(reply);
      const attached = new Set<string>();
      const pumps = new Set<Promise<void>>();
      const consider = (t: Task): void => {
        if (!hasLiveContainer(t) || attached.has(t.metadata.name)) return;
        attached.add(t.metadata.name);
        const p = pumpTask(t, q.engine, out, signal).finally(() => pumps.delete(p));
        pumps.add(p);
      };
      try {
        while (!signal.aborted) {
          try {
            for await (const ev of deps.registry.tasks.watch({ ...selector, signal })) {
              if (ev.type === 'ADDED' || ev.type === 'MODIFIED') consider(ev.object);
              else if (ev.type === 'DELETED') attached.delete(ev.object.metadata.name);
            }
          } catch (err) {
            if (signal.aborted) break;
            req.log.warn({ err }, 'service log: the task watch broke; reopening it');
          }
          // The watch ended (store restart, compaction): reopen it; attached tasks are not repeated.
          await delay(rewatchMs, undefined, { signal }).catch(() => undefined);
        }
      } finally {
        await Promise.allSettled([...pumps]);
        out.end();
      }
      return reply;
    });
  };
}
