/**
 * The agent's end of the log/exec tunnel. The agent initiates every connection (the
 * controller never dials a node): it holds `GET /apis/shoal/v1/nodes/{node}/tunnel` open on
 * its controller and reads NDJSON lines from it:
 *
 *   {"id":"…","op":"logs"|"exec","container":"<id>","task":"<ns>/<name>","query":{…}}
 *   {"op":"cancel","id":"…"}     the client went away before the answer arrived
 *   {"op":"ping"}                keepalive; silence for `idleTimeoutMs` means a dead connection
 *
 * Each request is served by the same request to the engine API on the agent's own socket
 * (`GET /v1/containers/:id/logs`, `POST /v1/containers/:id/exec`), and answered with
 * `POST /apis/shoal/v1/nodes/{node}/tunnel/{id}`: the request body is the engine's response
 * body, the engine's status travels in `x-shoal-tunnel-status`, and the response body is the
 * stdin the agent passes on to the engine. The engine sends its headers with its first bytes
 * (a quiet `logs -f` or an exec waiting for stdin sends none for a while), so the agent waits
 * `statusGraceMs` for them and then answers 200; an engine error after that point is sent as
 * an in-band `{"error": V1Status}` line, the engine's own convention for late failures.
 *
 * Only containers labelled as the request's task are served. The connection is re-opened
 * with backoff until the signal fires. node:http throughout, as pkg/client/http.ts.
 */
import { setMaxListeners } from 'node:events';
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { errors, fromResponseText, STREAM_CONTENT_TYPE, toShoalError, toStatus, TUNNEL_STATUS_HEADER, type TunnelLine, type TunnelRequest } from '../../api/index.js';
import { Backoff, ndjsonLines, readText, sleep } from '../../util/index.js';
import type { SessionLogger } from './session.js';

export { STREAM_CONTENT_TYPE, TUNNEL_STATUS_HEADER, type TunnelLine, type TunnelOp, type TunnelRequest } from '../../api/index.js';

const ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const CONTAINER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Longest line the controller may send down a tunnel, and largest error document read from a peer. */
const MAX_TUNNEL_LINE_BYTES = 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;

/** One line of the tunnel, checked; undefined for anything this agent does not understand. */
export function parseTunnelLine(line: string): TunnelLine | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (o['op'] === 'ping') return { op: 'ping' };
  const id = o['id'];
  if (typeof id !== 'string' || !ID_RE.test(id)) return undefined;
  if (o['op'] === 'cancel') return { op: 'cancel', id };
  if (o['op'] !== 'logs' && o['op'] !== 'exec') return undefined;
  const container = o['container'];
  const task = o['task'];
  const q = o['query'] ?? {};
  if (typeof container !== 'string' || !CONTAINER_RE.test(container)) return undefined;
  if (typeof task !== 'string' || task === '' || task.length > 512) return undefined;
  if (q === null || typeof q !== 'object' || Array.isArray(q)) return undefined;
  const query: Record<string, string> = {};
  for (const [k, val] of Object.entries(q as Record<string, unknown>)) if (typeof val === 'string') query[k] = val;
  return { id, op: o['op'], container, task, query };
}

/** The engine request that serves a tunnel request (only the parameters each route takes). */
export function engineRequest(r: TunnelRequest): { method: 'GET' | 'POST'; path: string; stdin: boolean } {
  const qs = new URLSearchParams();
  const pass = (keys: string[]): void => {
    for (const k of keys) {
      const v = r.query[k];
      if (v !== undefined && v !== '') qs.set(k, v);
    }
  };
  const base = `/v1/containers/${encodeURIComponent(r.container)}`;
  if (r.op === 'logs') {
    pass(['follow', 'tail', 'since']);
    const s = qs.toString();
    return { method: 'GET', path: `${base}/logs${s === '' ? '' : `?${s}`}`, stdin: false };
  }
  if (r.query['spec'] === undefined || r.query['spec'] === '') throw errors.invalidArgument('an exec request needs query.spec');
  pass(['spec']);
  return { method: 'POST', path: `${base}/exec?${qs.toString()}`, stdin: r.query['stdin'] === '1' };
}

export interface TunnelOptions {
  /** The controller's URL (`--controller`). */
  controller: string;
  nodeName: string;
  /** The engine API's UNIX socket (`--socket`). */
  engineSocket: string;
  log: SessionLogger;
  /** True when the container exists and is labelled as the given task (`shoal.task=<ns>/<name>`). */
  isTaskContainer(containerId: string, taskRef: string): boolean;
  signal?: AbortSignal;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** No line (not even a ping) for this long: the connection is dead and re-opened. Default 45 s. */
  idleTimeoutMs?: number;
  /** How long to wait for the engine's status before answering 200. Default 250 ms. */
  statusGraceMs?: number;
  /** Streams served at once; more are refused. Default 128. */
  maxStreams?: number;
}

export interface AgentTunnel {
  /** True while the tunnel is open. */
  connected(): boolean;
  /** Requests being served. */
  activeStreams(): number;
  /** Stops the loop, aborts every stream and waits for them. */
  close(): Promise<void>;
}

interface Sent {
  req: ClientRequest;
  response: Promise<IncomingMessage>;
}

type Settled<T> = { ok: true; value: T } | { ok: false; err: unknown };
const settle = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );

export function startTunnel(opts: TunnelOptions): AgentTunnel {
  const { log, nodeName } = opts;
  const controller = opts.controller.replace(/\/+$/, '');
  const idleMs = opts.idleTimeoutMs ?? 45_000;
  const graceMs = opts.statusGraceMs ?? 250;
  const maxStreams = opts.maxStreams ?? 128;
  const ac = new AbortController();
  const signal = ac.signal;
  setMaxListeners(0, signal); // one listener per stream being served
  const stop = (): void => ac.abort();
  opts.signal?.addEventListener('abort', stop, { once: true });
  if (opts.signal?.aborted) ac.abort();
  // Keep-alive matters beyond reuse: the controller may end its response (stdin) while our
  // request body (the engine's output) still flows, and without keep-alive node ends the
  // socket as soon as the response is complete. Torn-down requests destroy their socket.
  const agent = new Agent({ keepAlive: true });
  const tlsAgent = new HttpsAgent({ keepAlive: true });
  const nodePath = `/apis/shoal/v1/nodes/${encodeURIComponent(nodeName)}/tunnel`;
  const active = new Map<string, AbortController>();
  const serving = new Set<Promise<void>>();
  let isConnected = false;

  /** Starts a request to the controller (URL path) or, with `socketPath`, to the engine. */
  function start(method: string, target: { path: string; socketPath?: string }, headers: Record<string, string>, sig: AbortSignal): Sent {
    let req: ClientRequest;
    if (target.socketPath !== undefined) req = httpRequest({ method, headers, agent, signal: sig, socketPath: target.socketPath, path: target.path });
    else {
      const url = new URL(controller + target.path);
      const secure = url.protocol === 'https:';
      req = (secure ? httpsRequest : httpRequest)(url, { method, headers, agent: secure ? tlsAgent : agent, signal: sig });
    }
    // Failures surface through `response` and 'close'; a second error event must not throw.
    req.on('error', () => undefined);
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    response.catch(() => undefined); // observed by whoever awaits it
    return { req, response };
  }

  // ── serving one request ─────────────────────────────────────────────────────────────────

  /** Answers request `id` with a complete body (an error, or a refusal). */
  async function answerWith(id: string, status: number, body: string, sig: AbortSignal): Promise<void> {
    const post = start('POST', { path: `${nodePath}/${encodeURIComponent(id)}` }, { 'content-type': STREAM_CONTENT_TYPE, [TUNNEL_STATUS_HEADER]: String(status) }, sig);
    post.req.end(body);
    const res = await post.response;
    res.resume();
    await new Promise<void>((r) => (res.complete ? r() : res.once('close', () => r())));
  }

  async function serve(r: TunnelRequest, sig: AbortSignal): Promise<void> {
    if (!opts.isTaskContainer(r.container, r.task)) {
      const err = errors.notFound(`container ${r.container.slice(0, 12)} of task ${r.task} is not on node ${nodeName}`);
      await answerWith(r.id, 404, JSON.stringify(toStatus(err)), sig);
      return;
    }
    let er: ReturnType<typeof engineRequest>;
    try {
      er = engineRequest(r);
    } catch (err) {
      await answerWith(r.id, 400, JSON.stringify(toStatus(err)), sig);
      return;
    }

    // Both legs die together: whichever ends abnormally aborts the other.
    const legs = new AbortController();
    const abortLegs = (): void => legs.abort();
    sig.addEventListener('abort', abortLegs, { once: true });
    try {
      const engine = start(er.method, { path: er.path, socketPath: opts.engineSocket }, er.stdin ? { 'content-type': STREAM_CONTENT_TYPE } : {}, legs.signal);
      const stdin = er.stdin ? new PassThrough() : undefined;
      if (stdin) {
        // Headers now: the command must start before (and whether or not) input arrives.
        engine.req.flushHeaders();
        stdin.on('error', () => undefined);
        stdin.pipe(engine.req);
      } else engine.req.end();
      const engineRes = settle(engine.response);
      const early = await Promise.race([engineRes, delay(graceMs, undefined, { signal: legs.signal }).then(() => undefined, () => undefined)]);
      if (legs.signal.aborted) return;

      let status = 200;
      if (early !== undefined) status = early.ok ? (early.value.statusCode ?? 502) : toStatus(engineError(early.err)).code;
      const up = new PassThrough();
      up.on('error', () => undefined); // a torn-down request is handled through `legs`
      const endUp = (text: string): void => {
        if (!up.writableEnded && !up.destroyed) up.end(text);
      };
      const post = start(
        'POST',
        { path: `${nodePath}/${encodeURIComponent(r.id)}` },
        { 'content-type': STREAM_CONTENT_TYPE, [TUNNEL_STATUS_HEADER]: String(status) },
        legs.signal,
      );
      post.req.flushHeaders();
      up.pipe(post.req);
      const postDone = new Promise<void>((resolve) => {
        post.req.once('close', () => {
          // Closed before our answer went out: the controller dropped it (its client left).
          if (!post.req.writableFinished) legs.abort();
          resolve();
        });
      });
      post.req.on('error', () => legs.abort());

      // The controller's response: 200 with the client's stdin, or a refusal (request unknown).
      void post.response.then(
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            legs.abort();
            return;
          }
          if (stdin) res.pipe(stdin);
          else res.resume();
          res.on('error', () => legs.abort());
        },
        () => legs.abort(),
      );

      // The engine's answer goes up as it comes.
      const settled = early ?? (await engineRes);
      if (!settled.ok) {
        endUp(status === 200 ? errorLine(engineError(settled.err)) : JSON.stringify(toStatus(engineError(settled.err))));
      } else {
        const res = settled.value;
        const code = res.statusCode ?? 502;
        if (code >= 200 && code < 300) {
          res.on('error', () => undefined); // reported by 'close' below
          res.once('close', () => {
            if (!res.complete && !legs.signal.aborted) endUp(errorLine(errors.unavailable(`the engine stream of container ${r.container.slice(0, 12)} broke`)));
          });
          res.pipe(up);
        } else if (status === code) {
          res.pipe(up); // the engine's V1Status, under its own status
        } else {
          endUp(errorLine(fromResponseText(code, await readText(res, MAX_ERROR_BYTES).catch(() => ''), 'the engine')));
        }
      }
      await postDone;
    } finally {
      sig.removeEventListener('abort', abortLegs);
      legs.abort(); // nothing outlives the answer (a no-op when both legs ended)
    }
  }

  function engineError(err: unknown): ReturnType<typeof toShoalError> {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return errors.unavailable(`the engine API of node ${nodeName} cannot be reached (${code})`);
    return toShoalError(err);
  }

  function errorLine(err: unknown): string {
    return JSON.stringify({ error: toStatus(err) }) + '\n';
  }

  function dispatch(line: TunnelLine): void {
    if (line.op === 'ping') return;
    if (line.op === 'cancel') {
      active.get(line.id)?.abort();
      return;
    }
    if (active.has(line.id)) return;
    const reqAc = new AbortController();
    const onStop = (): void => reqAc.abort();
    signal.addEventListener('abort', onStop, { once: true });
    active.set(line.id, reqAc);
    const work =
      active.size > maxStreams
        ? answerWith(line.id, 503, JSON.stringify(toStatus(errors.unavailable(`node ${nodeName} is serving ${maxStreams} log and exec streams already`, { retryAfterSeconds: 1 }))), reqAc.signal)
        : serve(line, reqAc.signal);
    const p: Promise<void> = work
      .catch((err: unknown) => {
        if (!reqAc.signal.aborted) log.warn({ id: line.id, op: line.op, task: line.task, err: toShoalError(err).message }, 'tunnel: serving a request failed');
      })
      .finally(() => {
        signal.removeEventListener('abort', onStop);
        active.delete(line.id);
        serving.delete(p);
      });
    serving.add(p);
  }

  // ── the tunnel connection ───────────────────────────────────────────────────────────────

  /** Holds one connection until it ends; `onOpen` runs once the controller accepted it. */
  async function hold(onOpen: () => void): Promise<void> {
    const conn = new AbortController();
    const onStop = (): void => conn.abort();
    signal.addEventListener('abort', onStop, { once: true });
    let idle: NodeJS.Timeout | undefined;
    try {
      const get = start('GET', { path: nodePath }, { accept: 'application/x-ndjson' }, conn.signal);
      get.req.end();
      const res = await get.response;
      if (res.statusCode !== 200) {
        throw fromResponseText(res.statusCode ?? 502, await readText(res, MAX_ERROR_BYTES).catch(() => ''), `the controller at ${controller}`);
      }
      res.socket.setKeepAlive(true, 15_000);
      onOpen();
      const arm = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => conn.abort(), idleMs);
      };
      arm();
      for await (const text of ndjsonLines(res, { maxLineBytes: MAX_TUNNEL_LINE_BYTES })) {
        arm();
        const line = parseTunnelLine(text);
        if (line) dispatch(line);
      }
      if (conn.signal.aborted && !signal.aborted) throw errors.unavailable(`no keepalive from the controller for ${Math.round(idleMs / 1000)} s`);
    } catch (err) {
      if (conn.signal.aborted && !signal.aborted) throw errors.unavailable(`no keepalive from the controller for ${Math.round(idleMs / 1000)} s`);
      throw err;
    } finally {
      clearTimeout(idle);
      signal.removeEventListener('abort', onStop);
      conn.abort();
    }
  }

  const loop = (async () => {
    const backoff = new Backoff({ minMs: opts.backoffMinMs ?? 200, maxMs: opts.backoffMaxMs ?? 5_000 });
    let down = false;
    let everConnected = false;
    while (!signal.aborted) {
      try {
        await hold(() => {
          isConnected = true;
          backoff.reset();
          if (!everConnected || down) log.info({ controller }, everConnected ? 'tunnel: connected again' : 'tunnel: connected');
          everConnected = true;
          down = false;
        });
      } catch (err) {
        if (signal.aborted) break;
        const e = toShoalError(err);
        // At start-up the session registers the node a moment after we first ask: not worth a warning.
        if (!down && (everConnected || e.code !== 'NotFound')) log.warn({ controller, err: e.message }, 'tunnel: lost the connection to the controller; retrying with backoff');
        if (everConnected || e.code !== 'NotFound') down = true;
      } finally {
        isConnected = false;
      }
      await sleep(backoff.next(), signal);
    }
  })();

  let closing: Promise<void> | undefined;
  return {
    connected: () => isConnected,
    activeStreams: () => active.size,
    close() {
      return (closing ??= (async () => {
        ac.abort();
        opts.signal?.removeEventListener('abort', stop);
        await loop;
        await Promise.allSettled([...serving]);
        agent.destroy();
        tlsAgent.destroy();
      })());
    },
  };
}
