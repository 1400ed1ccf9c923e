/**
 * `--metrics-listen HOST:PORT`: a plain node:http server with one route, `GET /metrics`
 * (also HEAD), serving the agent registry as Prometheus text. Anything else is a 404 (405 for
 * another method on /metrics); malformed requests get the socket closed. A failing scrape is a
 * 503 with the reason, never a crash.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShoalError } from '../api/index.js';

export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

export interface MetricsServer {
  /** The bound address (the real port when 0 was asked for). */
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Parses `HOST:PORT` (`[v6]:PORT` for IPv6; an empty host means all addresses). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new ShoalError('InvalidArgument', `invalid --metrics-listen ${JSON.stringify(listen)}: want HOST:PORT, e.g. 127.0.0.1:9323`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function send(res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}, head = false): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(head ? undefined : body);
}

async function handle(source: MetricsSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let path: string;
  try {
    path = new URL(req.url ?? '/', 'http://x').pathname;
  } catch {
    path = '';
  }
  if (path !== '/metrics') return send(res, 404, 'not found: only /metrics is served here\n');
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) return send(res, 405, `method ${req.method ?? ''} not allowed on /metrics\n`, { allow: 'GET, HEAD' });
  let text: string;
  try {
    text = await source.text();
  } catch (err) {
    return send(res, 503, `collecting metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  send(res, 200, text, { 'content-type': source.contentType }, head);
}

export async function startMetricsServer(listen: string, source: MetricsSource): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer((req, res) => {
    handle(source, req, res).catch(() => {
      if (!res.headersSent) send(res, 503, 'collecting metrics failed\n');
      else res.destroy();
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new ShoalError(err.code === 'EADDRINUSE' ? 'AlreadyExists' : 'Unavailable', `metrics server cannot listen on ${listen}: ${err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    host: addr.address,
    port: addr.port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
