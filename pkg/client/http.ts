/**
 * The CLI's HTTP transport: node:http/https, over TCP or a UNIX socket. shoalctl starts on
 * every command, and bundling undici (about 1 MB) cost ~60 ms of start-up per run; the
 * daemons keep undici for the registry client.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { readText } from '../util/index.js';

export interface HttpRequest {
  method: string;
  /** Full URL (`http://host:port/path?q`), or with `socketPath` just the path and query. */
  url: string;
  socketPath?: string;
  headers?: Record<string, string>;
  body?: Readable | Uint8Array | string;
  signal?: AbortSignal;
  agent?: HttpAgent;
  /** HTTPS: the CA to trust (PEM; absent: the system's) and a client certificate and key. */
  tls?: TlsClientOptions;
}

export interface TlsClientOptions {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface HttpResponse {
  statusCode: number;
  /** The body as a stream of Buffers (async-iterable). */
  body: IncomingMessage;
  text(): Promise<string>;
}

/** Sends one request; resolves once the response headers are in. Connection errors reject with their `code` (ECONNREFUSED, ENOENT...). */
export function send(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const target = req.socketPath !== undefined ? new URL(req.url, 'http://localhost') : new URL(req.url);
    const secure = target.protocol === 'https:';
    const options = {
      method: req.method,
      headers: { ...(req.headers ?? {}) },
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.agent ? { agent: req.agent } : {}),
      ...(secure && req.tls ? { ...(req.tls.ca ? { ca: req.tls.ca } : {}), ...(req.tls.cert ? { cert: req.tls.cert } : {}), ...(req.tls.key ? { key: req.tls.key } : {}) } : {}),
    };
    const onResponse = (res: IncomingMessage): void => {
      resolve({ statusCode: res.statusCode ?? 0, body: res, text: () => readText(res) });
    };
    const r =
      req.socketPath !== undefined
        ? httpRequest({ ...options, socketPath: req.socketPath, path: `${target.pathname}${target.search}` }, onResponse)
        : (secure ? httpsRequest : httpRequest)(target, options, onResponse);
    r.on('error', reject);
    const body = req.body;
    if (body === undefined) r.end();
    else if (body instanceof Readable) {
      body.on('error', (err) => r.destroy(err));
      // Headers now: a streamed body (stdin) may send nothing for a long time, or ever.
      r.flushHeaders();
      body.pipe(r);
    } else r.end(body);
  });
}

/** A keep-alive agent for a client that sends several requests (closed with `destroy()`). */
export function keepAliveAgent(secure = false): HttpAgent {
  return secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
}
