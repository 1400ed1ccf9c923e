/**
 * The tunnel's HTTP requests, node:http throughout (as pkg/client/http.ts; the tunnel needs
 * the ClientRequest itself: it streams both ways at once and watches the socket close). Every
 * request goes over a keep-alive agent, and that matters beyond reuse: the controller may end
 * its response (the exec's stdin) while our request body (the engine's output) still flows,
 * and without keep-alive node ends the socket as soon as the response is complete. Torn-down
 * requests destroy their socket. `destroy()` closes the idle sockets.
 */
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { STREAM_CONTENT_TYPE, TUNNEL_STATUS_HEADER } from '../../api/index.js';
import type { ClientCredentials, ControllerEndpoints } from '../../client/index.js';

/** A request under way: write its body to `req`; `response` resolves with the headers. */
export interface Sent {
  req: ClientRequest;
  /** Rejects with the connection error (its `code`: ECONNREFUSED, ENOENT...). Never unhandled. */
  response: Promise<IncomingMessage>;
}

export class TunnelHttp {
  /** The controllers; requests go to the current one (the connection pins it while it lasts). */
  readonly endpoints: ControllerEndpoints;
  /** The controller the tunnel is connected to (answers go where their requests came from). */
  controller: string;
  /** `/apis/shoal/v1/nodes/{node}/tunnel`: the tunnel (GET) and, under it, the answers (POST). */
  readonly tunnelPath: string;
  private readonly agent = new Agent({ keepAlive: true });
  private tlsAgent = new HttpsAgent({ keepAlive: true });
  /** The credentials the TLS agent was made with: a renewed certificate makes a new agent. */
  private tlsCreds: ClientCredentials | undefined;

  constructor(
    endpoints: ControllerEndpoints,
    nodeName: string,
    private readonly credentials?: () => ClientCredentials,
  ) {
    this.endpoints = endpoints;
    this.controller = endpoints.current;
    this.tunnelPath = `/apis/shoal/v1/nodes/${encodeURIComponent(nodeName)}/tunnel`;
  }

  /** Starts a request to the controller (`path` under its URL). */
  toController(method: string, path: string, headers: Record<string, string>, signal: AbortSignal): Sent {
    const url = new URL(this.controller + path);
    const secure = url.protocol === 'https:';
    return sent((secure ? httpsRequest : httpRequest)(url, { method, headers, agent: secure ? this.tls() : this.agent, signal }));
  }

  private tls(): HttpsAgent {
    const c = this.credentials?.();
    if (c !== this.tlsCreds) {
      // Old connections finish on the old agent; new ones present the current certificate.
      const old = this.tlsAgent;
      setTimeout(() => old.destroy(), 60_000).unref();
      this.tlsAgent = new HttpsAgent({ keepAlive: true, ...(c?.ca ? { ca: c.ca } : {}), ...(c?.cert ? { cert: c.cert } : {}), ...(c?.key ? { key: c.key } : {}) });
      this.tlsCreds = c;
    }
    return this.tlsAgent;
  }

  /** Starts a request to the engine API on its UNIX socket. */
  toEngine(method: string, socketPath: string, path: string, headers: Record<string, string>, signal: AbortSignal): Sent {
    return sent(httpRequest({ method, headers, agent: this.agent, signal, socketPath, path }));
  }

  /** Starts the answer to request `id` (POST, the engine's status in the header); the caller writes the body. */
  answer(id: string, status: number, signal: AbortSignal): Sent {
    return this.toController('POST', `${this.tunnelPath}/${encodeURIComponent(id)}`, { 'content-type': STREAM_CONTENT_TYPE, [TUNNEL_STATUS_HEADER]: String(status) }, signal);
  }

  /** Answers request `id` with a complete body (an error, or a refusal) and waits for the exchange to end. */
  async answerWith(id: string, status: number, body: string, signal: AbortSignal): Promise<void> {
    const post = this.answer(id, status, signal);
    post.req.end(body);
    const res = await post.response;
    res.resume();
    await new Promise<void>((r) => (res.complete ? r() : res.once('close', () => r())));
  }

  destroy(): void {
    this.agent.destroy();
    this.tlsAgent.destroy();
  }
}

function sent(req: ClientRequest): Sent {
  // Failures surface through `response` and 'close'; a second error event must not throw.
  req.on('error', () => undefined);
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  response.catch(() => undefined); // observed by whoever awaits it
  return { req, response };
}
