/**
 * Typed client for the engine API of one agent, over its UNIX socket (DESIGN.md section 6).
 * Non-2xx answers become the ShoalError the server threw (via `fromStatus`); a socket that is
 * absent or refuses becomes Unavailable with a message that says what to check.
 */
import { Readable } from 'node:stream';
import type { Agent } from 'node:http';
import { keepAliveAgent, send, type HttpResponse } from './http.js';
import { errors, fromResponseText, fromStatus, toShoalError, type ShoalError, type Status } from '../api/index.js';
import { ndjsonLines, parseJsonLine } from '../util/index.js';

export const DEFAULT_ENGINE_HOST = 'unix:///run/shoal/agent.sock';

/** `--host` wins, then SHOAL_HOST, then the default socket. Only unix:// (or a bare path) is supported. */
export function resolveEngineHost(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const h = flag ?? env['SHOAL_HOST'] ?? DEFAULT_ENGINE_HOST;
  return h === '' ? DEFAULT_ENGINE_HOST : h;
}

export function socketPathOf(host: string): string {
  if (host.startsWith('unix://')) {
    const p = host.slice('unix://'.length);
    if (p.startsWith('/')) return p;
  } else if (host.startsWith('/')) {
    return host;
  }
  throw errors.invalidArgument(`unsupported engine host "${host}": use unix:///path/to/agent.sock`);
}

/** One progress or result event of a streamed operation (pull, push). */
export interface StreamEvent {
  id?: string;
  status?: string;
  current?: number;
  total?: number;
  digest?: string;
  [k: string]: unknown;
  error?: Status;
}

export interface ImageSummary {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Size: number;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Raw body (stream or bytes) with its content type; wins over `body`. */
  rawBody?: { data: Readable | Uint8Array | string; contentType: string };
  signal?: AbortSignal;
}

export class EngineClient {
  readonly host: string;
  private readonly socketPath: string;
  private readonly agent: Agent = keepAliveAgent();

  constructor(host: string) {
    this.host = host;
    this.socketPath = socketPathOf(host);
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  /** Sends a request and returns the decoded JSON body (undefined for empty bodies). */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await res.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw errors.upstream(`the engine answered ${method} ${path} with a body that is not JSON`);
    }
  }

  /**
   * Sends a request whose answer is newline-delimited JSON and yields each event. An event with
   * an `error` (a V1Status) is thrown as the ShoalError it describes.
   */
  async *stream(method: string, path: string, opts: RequestOptions = {}): AsyncGenerator<StreamEvent> {
    const res = await this.send(method, path, opts);
    for await (const line of ndjsonLines(res.body)) {
      const ev = parseJsonLine<StreamEvent>(line, 'the engine');
      if (ev.error) throw fromStatus(ev.error.code, ev.error);
      yield ev;
    }
  }

  private async send(method: string, path: string, opts: RequestOptions): Promise<HttpResponse> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const fullPath = qs.size > 0 ? `${path}?${qs.toString()}` : path;
    const headers: Record<string, string> = {};
    let body: Readable | Uint8Array | string | undefined;
    if (opts.rawBody) {
      headers['content-type'] = opts.rawBody.contentType;
      body = opts.rawBody.data;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res;
    try {
      res = await send({
        method,
        url: fullPath,
        socketPath: this.socketPath,
        headers,
        agent: this.agent,
        ...(body !== undefined ? { body } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      throw this.connectError(err);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw fromResponseText(res.statusCode, await res.text().catch(() => ''), 'the engine');
    return res;
  }

  private connectError(err: unknown): ShoalError {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'UND_ERR_SOCKET' || code === 'EACCES') {
      const why = code === 'EACCES' ? ' (permission denied: run as root?)' : ': is shoal-agent running?';
      return errors.unavailable(`cannot connect to the Shoal engine at ${this.host}${why}`, { cause: err });
    }
    return toShoalError(err);
  }

  // Images -----------------------------------------------------------------------------------

  listImages(signal?: AbortSignal): Promise<ImageSummary[]> {
    return this.request('GET', '/v1/images', opts(signal));
  }

  inspectImage(ref: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return this.request('GET', `/v1/images/${encodeURIComponent(ref)}/json`, opts(signal));
  }

  pullImage(ref: string, signal?: AbortSignal): AsyncGenerator<StreamEvent> {
    return this.stream('POST', '/v1/images/pull', { body: { ref }, ...opts(signal) });
  }

  pushImage(ref: string, signal?: AbortSignal): AsyncGenerator<StreamEvent> {
    return this.stream('POST', '/v1/images/push', { body: { ref }, ...opts(signal) });
  }

  tagImage(source: string, target: string, signal?: AbortSignal): Promise<void> {
    return this.request('POST', '/v1/images/tag', { body: { source, target }, ...opts(signal) });
  }

  removeImage(ref: string, force: boolean, signal?: AbortSignal): Promise<{ untagged: string[]; deleted: string[] }> {
    return this.request('DELETE', `/v1/images/${encodeURIComponent(ref)}`, { query: { force: force ? 1 : undefined }, ...opts(signal) });
  }

  importImage(ref: string, tar: Readable, signal?: AbortSignal): Promise<{ id: string; digest: string; ref: string }> {
    return this.request('POST', '/v1/images/import', {
      query: { ref },
      rawBody: { data: tar, contentType: 'application/x-tar' },
      ...opts(signal),
    });
  }

  login(registry: string, username: string, password: string, signal?: AbortSignal): Promise<{ status: string }> {
    return this.request('POST', '/v1/auth', { body: { registry, username, password }, ...opts(signal) });
  }

  version(signal?: AbortSignal): Promise<Record<string, unknown>> {
    return this.request('GET', '/v1/version', opts(signal));
  }
}

function opts(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

/** Reads a whole readable into a Readable suitable as a request body (e.g. stdin for import). */
export function asReadable(input: NodeJS.ReadableStream): Readable {
  return input instanceof Readable ? input : Readable.from(input as AsyncIterable<Uint8Array>);
}

/** The engine client for a command: `--host` (a global option) or SHOAL_HOST or the default socket. */
export function engineClientFor(opts: { host?: string }, env: Readonly<Record<string, string | undefined>>): EngineClient {
  return new EngineClient(resolveEngineHost(opts.host, env));
}
