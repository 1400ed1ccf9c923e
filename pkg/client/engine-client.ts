/**
 * Typed client for the engine API of one agent, over its UNIX socket (DESIGN.md section 6).
 * Non-2xx answers become the ShoalError the server threw (via `fromStatus`); a socket that is
 * absent or refuses becomes Unavailable with a message that says what to check.
 */
import { Readable } from 'node:stream';
import type { Agent } from 'node:http';
import { keepAliveAgent, send, type HttpResponse } from './http.js';
import {
  encodeExecSpecParam, errors, fromResponseText, MAX_ERROR_BODY_BYTES, fromStatus, STREAM_CONTENT_TYPE, toShoalError,
  type ContainerCreateRequest, type ContainerCreateResponse, type ContainerInspect, type ContainerStats, type ContainerSummary,
  type ContainerWaitResponse, type EngineVersion, type ExecFrame, type ExecSpec, type ImageInspect, type ImageRemoveResult,
  type ImageResult, type ImageSummary, type LayerProgress, type LogEntry, type NetworkCreateRequest, type NetworkDetail,
  type NetworkInfo, type ShoalError, type StreamError, type TerminalSize,
} from '../api/index.js';
import { ndjsonLines, parseJsonLine, readText } from '../util/index.js';

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

/** One line of a pull or push: a layer's progress, then the result (`status: "done"`). */
export type PullEvent = LayerProgress | ({ status: 'done' } & ImageResult);

/** True for the last line of a pull or push (the result, with the digest). */
export function isPullResult(ev: PullEvent): ev is { status: 'done' } & ImageResult {
  return 'digest' in ev && typeof ev.digest === 'string';
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
  async *stream<T extends object>(method: string, path: string, opts: RequestOptions = {}): AsyncGenerator<T> {
    yield* this.events<T>(await this.send(method, path, opts));
  }

  private async *events<T extends object>(res: HttpResponse): AsyncGenerator<T> {
    for await (const line of ndjsonLines(res.body)) {
      const ev = parseJsonLine<T | StreamError>(line, 'the engine');
      if ('error' in ev && ev.error !== undefined) throw fromStatus(ev.error.code, ev.error);
      yield ev as T;
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
    if (res.statusCode < 200 || res.statusCode >= 300) throw fromResponseText(res.statusCode, await readText(res.body, MAX_ERROR_BODY_BYTES).catch(() => ''), 'the engine');
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

  // Containers -------------------------------------------------------------------------------

  createContainer(body: ContainerCreateRequest, signal?: AbortSignal): Promise<ContainerCreateResponse> {
    return this.request('POST', '/v1/containers', { body, ...opts(signal) });
  }

  listContainers(all: boolean, signal?: AbortSignal): Promise<ContainerSummary[]> {
    return this.request('GET', '/v1/containers', { query: { all: all ? 1 : undefined }, ...opts(signal) });
  }

  inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerInspect> {
    return this.request('GET', `${containerPath(id)}/json`, opts(signal));
  }

  /** `start`, `pause`, `unpause`; `stop` and `restart` take a timeout in seconds; `kill` a signal. */
  async containerAction(id: string, action: 'start' | 'stop' | 'restart' | 'kill' | 'pause' | 'unpause', o: { timeoutS?: string | number; signalName?: string } = {}, signal?: AbortSignal): Promise<void> {
    const query = { t: o.timeoutS, signal: o.signalName };
    await this.request('POST', `${containerPath(id)}/${action}`, { query, ...opts(signal) });
  }

  async removeContainer(id: string, force: boolean, signal?: AbortSignal): Promise<void> {
    await this.request('DELETE', containerPath(id), { query: { force: force ? 1 : undefined }, ...opts(signal) });
  }

  waitContainer(id: string, signal?: AbortSignal): Promise<ContainerWaitResponse> {
    return this.request('POST', `${containerPath(id)}/wait`, opts(signal));
  }

  containerLogs(id: string, q: { follow?: boolean; tail?: string | number; since?: string }, signal?: AbortSignal): AsyncGenerator<LogEntry> {
    return this.stream('GET', `${containerPath(id)}/logs`, { query: { follow: q.follow ? 1 : undefined, tail: q.tail, since: q.since }, ...opts(signal) });
  }

  containerStats(id: string, signal?: AbortSignal): Promise<ContainerStats> {
    return this.request('GET', `${containerPath(id)}/stats`, { query: { stream: 0 }, ...opts(signal) });
  }

  /** Runs a command in the container; with `stdin`, the spec travels in the query and the body is its input. */
  exec(id: string, spec: ExecSpec, stdin?: Readable, signal?: AbortSignal): AsyncGenerator<ExecFrame> {
    const path = `${containerPath(id)}/exec`;
    return stdin
      ? this.stream('POST', path, { query: { spec: encodeExecSpecParam(spec) }, rawBody: { data: stdin, contentType: STREAM_CONTENT_TYPE }, ...opts(signal) })
      : this.stream('POST', path, { body: spec, ...opts(signal) });
  }

  /**
   * Attaches to a terminal container: `input` is a terminal frame stream (keys, window sizes),
   * the frames are its output and, once it exits, `{exitCode}`. Resolves when the engine has
   * answered: for a created container that means it is registered, so `start` may follow.
   * Ending the request (`signal`) detaches; the container keeps running.
   */
  async attachTerminal(id: string, input: Readable, signal?: AbortSignal): Promise<AsyncGenerator<ExecFrame>> {
    const res = await this.send('POST', `${containerPath(id)}/attach`, { rawBody: { data: input, contentType: STREAM_CONTENT_TYPE }, ...opts(signal) });
    return this.events<ExecFrame>(res);
  }

  /** Sets the window size of a terminal container (Docker's resize). */
  async resizeContainer(id: string, size: TerminalSize, signal?: AbortSignal): Promise<void> {
    await this.request('POST', `${containerPath(id)}/resize`, { query: { h: size.rows, w: size.cols }, ...opts(signal) });
  }

  /** Streams `stdin` into the container's stdin (`run -i`), until it ends or `signal` fires. */
  async attachStdin(id: string, stdin: Readable, signal?: AbortSignal): Promise<void> {
    await this.request('POST', `${containerPath(id)}/attach`, { rawBody: { data: stdin, contentType: STREAM_CONTENT_TYPE }, ...opts(signal) });
  }

  // Images -----------------------------------------------------------------------------------

  listImages(signal?: AbortSignal): Promise<ImageSummary[]> {
    return this.request('GET', '/v1/images', opts(signal));
  }

  inspectImage(ref: string, signal?: AbortSignal): Promise<ImageInspect> {
    return this.request('GET', `/v1/images/${encodeURIComponent(ref)}/json`, opts(signal));
  }

  pullImage(ref: string, signal?: AbortSignal): AsyncGenerator<PullEvent> {
    return this.stream('POST', '/v1/images/pull', { body: { ref }, ...opts(signal) });
  }

  pushImage(ref: string, signal?: AbortSignal): AsyncGenerator<PullEvent> {
    return this.stream('POST', '/v1/images/push', { body: { ref }, ...opts(signal) });
  }

  async tagImage(source: string, target: string, signal?: AbortSignal): Promise<void> {
    await this.request('POST', '/v1/images/tag', { body: { source, target }, ...opts(signal) });
  }

  removeImage(ref: string, force: boolean, signal?: AbortSignal): Promise<ImageRemoveResult> {
    return this.request('DELETE', `/v1/images/${encodeURIComponent(ref)}`, { query: { force: force ? 1 : undefined }, ...opts(signal) });
  }

  importImage(ref: string, tar: Readable, signal?: AbortSignal): Promise<ImageResult> {
    return this.request('POST', '/v1/images/import', {
      query: { ref },
      rawBody: { data: tar, contentType: 'application/x-tar' },
      ...opts(signal),
    });
  }

  login(registry: string, username: string, password: string, signal?: AbortSignal): Promise<{ status: string }> {
    return this.request('POST', '/v1/auth', { body: { registry, username, password }, ...opts(signal) });
  }

  // Networks ---------------------------------------------------------------------------------

  listNetworks(signal?: AbortSignal): Promise<NetworkInfo[]> {
    return this.request('GET', '/v1/networks', opts(signal));
  }

  inspectNetwork(name: string, signal?: AbortSignal): Promise<NetworkDetail> {
    return this.request('GET', `/v1/networks/${encodeURIComponent(name)}`, opts(signal));
  }

  createNetwork(body: NetworkCreateRequest, signal?: AbortSignal): Promise<NetworkInfo> {
    return this.request('POST', '/v1/networks', { body, ...opts(signal) });
  }

  async removeNetwork(name: string, force: boolean, signal?: AbortSignal): Promise<void> {
    await this.request('DELETE', `/v1/networks/${encodeURIComponent(name)}`, { query: { force: force ? 1 : undefined }, ...opts(signal) });
  }

  version(signal?: AbortSignal): Promise<EngineVersion> {
    return this.request('GET', '/v1/version', opts(signal));
  }
}

function containerPath(id: string): string {
  return `/v1/containers/${encodeURIComponent(id)}`;
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
