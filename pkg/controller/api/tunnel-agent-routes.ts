/**
 * The agents' side of the tunnel (the HTTP shell around TunnelHub's links and answers):
 *
 *   GET  /apis/shoal/v1/nodes/{node}/tunnel        held open; NDJSON requests + `{"op":"ping"}`
 *   POST /apis/shoal/v1/nodes/{node}/tunnel/{id}   body: the engine's answer (status in the
 *                                                  x-shoal-tunnel-status header);
 *                                                  response body: stdin for the engine
 *
 * Only a registered node holds a tunnel (404 otherwise). A tunnel whose unsent output passes
 * MAX_TUNNEL_BACKLOG is cut (the agent reconnects); an answer for a request nobody waits for
 * is a 404 (the agent drops its engine request). docs/api.md has the sequence.
 */
import type { ServerResponse } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_GROUP_PATH, errors, STREAM_CONTENT_TYPE, TUNNEL_STATUS_HEADER } from '../../api/index.js';
import { NDJSON_CONTENT_TYPE } from '../../httpserver/index.js';
import type { RouteDeps } from './deps.js';
import { param } from './request.js';
import type { AgentLink, TunnelHub, TunnelStream } from './tunnel.js';
import { isReadable } from './tunnel-relay.js';

/** A tunnel whose unsent output grows past this is dead or stuck: it is cut and the agent reconnects. */
const MAX_TUNNEL_BACKLOG = 256 * 1024;

export function agentTunnelRoutes(app: FastifyInstance, deps: RouteDeps, hub: TunnelHub, keepaliveMs: number): void {
  app.get(`${API_GROUP_PATH}/nodes/:name/tunnel`, async (req, reply) => {
    const node = param(req, 'name');
    await deps.registry.nodes.get(undefined, node); // only registered nodes hold a tunnel
    holdTunnel(req, reply, node, hub, keepaliveMs);
    return reply;
  });

  app.post(`${API_GROUP_PATH}/nodes/:name/tunnel/:id`, async (req, reply) => {
    const node = param(req, 'name');
    const id = param(req, 'id');
    const { stream, stdin } = answerStream(req, reply, answerStatus(req));
    if (!hub.answer(node, id, stream)) {
      throw errors.notFound(`no request ${id} of node ${node} waits for an answer (canceled, timed out, or answered already)`);
    }
    sendStdin(req, reply, stdin);
    return reply;
  });
}

/** Takes the response over as the node's link: requests go down it, pings keep it alive. */
function holdTunnel(req: FastifyRequest, reply: FastifyReply, node: string, hub: TunnelHub, keepaliveMs: number): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': NDJSON_CONTENT_TYPE, 'cache-control': 'no-cache' });
  res.flushHeaders();
  req.raw.socket.setKeepAlive(true, keepaliveMs);
  req.raw.socket.setNoDelay(true);
  const link = responseLink(res);
  const release = hub.connect(node, link);
  const ping = setInterval(() => {
    if (res.writableLength > MAX_TUNNEL_BACKLOG) res.destroy();
    else link.send('{"op":"ping"}');
  }, keepaliveMs);
  res.once('close', () => {
    clearInterval(ping);
    release();
  });
}

/** An AgentLink over a held response: one NDJSON line per request. */
function responseLink(res: ServerResponse): AgentLink {
  return {
    send(line) {
      if (!res.destroyed && !res.writableEnded) res.write(line + '\n');
    },
    close() {
      if (!res.writableEnded) res.end();
    },
  };
}

/** The engine's status the agent relays in TUNNEL_STATUS_HEADER (absent: 200). */
function answerStatus(req: FastifyRequest): number {
  const h = req.headers[TUNNEL_STATUS_HEADER];
  const status = h === undefined ? 200 : Number(h);
  if (!Number.isInteger(status) || status < 200 || status > 599) throw errors.invalidArgument(`header ${TUNNEL_STATUS_HEADER} must be an HTTP status (200-599)`);
  return status;
}

/** The agent's answer as the hub sees it: its request body in, our response body (stdin) out. */
function answerStream(req: FastifyRequest, reply: FastifyReply, status: number): { stream: TunnelStream; stdin: PassThrough } {
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
  return { stream, stdin };
}

/** Starts our response to the agent: the stdin the client sends, until it ends. */
function sendStdin(req: FastifyRequest, reply: FastifyReply, stdin: Readable): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': STREAM_CONTENT_TYPE, 'cache-control': 'no-cache' });
  res.flushHeaders();
  stdin.pipe(res);
  // Our response (stdin) may end while the agent's body still flows (an exec whose input
  // ended): node then arms the keep-alive idle timeout on the socket, which would cut a
  // quiet command. The request is not over, so the socket stays without a timeout.
  res.once('finish', () => {
    if (!req.raw.complete) setImmediate(() => req.raw.socket?.setTimeout(0));
  });
}
