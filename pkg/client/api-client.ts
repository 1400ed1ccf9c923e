/**
 * Typed client of the controller API (DESIGN.md section 4). Non-2xx answers become the
 * ShoalError the server threw (via `fromStatus`, causes included); a controller that cannot
 * be reached becomes Unavailable naming the URL.
 */
import type { Readable } from 'node:stream';
import { ndjsonLines, parseJsonLine, readText } from '../util/index.js';
import { authHeaders, currentCredentials, httpsAgentFor, type CredentialSource } from './credentials.js';
import { send } from './http.js';
import { SnapshotChecksum } from './snapshot-check.js';
import {
  API_GROUP_PATH, encodeExecSpecParam, errors, fromResponseText, MAX_ERROR_BODY_BYTES, fromStatus, isShoalError, RESOURCES, ShoalError, STREAM_CONTENT_TYPE, toShoalError,
  type ApiObject, type ExecFrame, type ExecSpec, type List, type ResourcePlural, type TaskLogEntry, type WatchEvent,
} from '../api/index.js';

export interface ListOptions {
  namespace?: string;
  /** All namespaces. */
  all?: boolean;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ClusterInfo {
  version: string;
  controller?: { id?: string; isLeader: boolean };
  leader?: string;
  nodes: { total: number; byState: Record<string, number> };
  /** The controller's etcd cluster, as its health probes see it (absent with a store that is not etcd). */
  etcd?: { state: 'unknown' | 'ok' | 'no-leader'; leader?: string; reason?: string; members: { endpoint: string; reachable: boolean; isLeader: boolean }[] };
}

export interface Scale {
  kind: 'Scale';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { replicas: number };
  status: { replicas: number };
}

export interface LogOptions {
  follow?: boolean;
  /** Lines from the end of each container's log. */
  tailLines?: number;
  timestamps?: boolean;
  /** RFC 3339 time or unix seconds. */
  sinceTime?: string;
}

export class ApiClient {
  constructor(
    readonly server: string,
    private readonly signal?: AbortSignal,
    /** Told when the server could not be reached at all (not when it answered with an error). */
    private readonly onUnreachable?: (server: string) => void,
    /** The CA, client certificate or token this client presents (issue 13). */
    readonly credentials?: CredentialSource,
  ) {}

  /** TLS options and auth headers of the current credentials, for one request. */
  private auth(): { agent?: ReturnType<typeof httpsAgentFor>; headers: Record<string, string> } {
    const c = currentCredentials(this.credentials);
    const agent = this.server.startsWith('https:') ? httpsAgentFor(c) : undefined;
    return { ...(agent ? { agent } : {}), headers: authHeaders(c) };
  }

  /** Path of a collection or object; cluster-scoped kinds ignore the namespace. */
  path(plural: ResourcePlural, namespace: string | undefined, name?: string, sub?: string): string {
    const r = RESOURCES[plural];
    let p = r.namespaced && namespace !== undefined ? `${API_GROUP_PATH}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${API_GROUP_PATH}/${plural}`;
    if (name !== undefined) p += `/${encodeURIComponent(name)}`;
    if (sub !== undefined) p += `/${sub}`;
    return p;
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    let res;
    try {
      const a = this.auth();
      res = await send({
        url: `${this.server}${path}`,
        method,
        ...(a.agent ? { agent: a.agent } : {}),
        headers: { accept: 'application/json', ...a.headers, ...(body !== undefined ? { 'content-type': contentType } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(this.signal ? { signal: this.signal } : {}),
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    const text = await res.text();
    if (res.statusCode >= 400) throw fromResponseText(res.statusCode, text.slice(0, MAX_ERROR_BODY_BYTES), `the controller at ${this.server}`);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw errors.upstream(`the controller at ${this.server} answered ${method} ${path} with a body that is not JSON`);
    }
  }

  private unreachable(err: unknown): Error {
    const e = toShoalError(err);
    if (e.code === 'Canceled') return e;
    this.onUnreachable?.(this.server);
    const cause = (err as { cause?: { code?: string } } | undefined)?.cause?.code ?? (err as { code?: string }).code ?? e.message;
    return errors.unavailable(`cannot reach the controller at ${this.server}: ${cause}`, { cause: err });
  }

  private qs(q: Record<string, string | undefined>): string {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, v);
    const s = p.toString();
    return s === '' ? '' : `?${s}`;
  }

  list<T extends ApiObject>(plural: ResourcePlural, opts: ListOptions = {}): Promise<List<T>> {
    const ns = opts.all ? undefined : (opts.namespace ?? 'default');
    return this.call('GET', this.path(plural, ns) + this.qs({ labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector }));
  }

  get<T extends ApiObject>(plural: ResourcePlural, namespace: string | undefined, name: string): Promise<T> {
    return this.call('GET', this.path(plural, namespace ?? 'default', name));
  }

  /** The object, or undefined when it does not exist. */
  async find<T extends ApiObject>(plural: ResourcePlural, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      return await this.get<T>(plural, namespace, name);
    } catch (err) {
      if (isShoalError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  create<T extends ApiObject>(plural: ResourcePlural, namespace: string | undefined, obj: unknown): Promise<T> {
    return this.call('POST', this.path(plural, namespace ?? 'default'), obj);
  }

  replace<T extends ApiObject>(plural: ResourcePlural, namespace: string | undefined, name: string, obj: unknown): Promise<T> {
    return this.call('PUT', this.path(plural, namespace ?? 'default', name), obj);
  }

  patch<T extends ApiObject>(plural: ResourcePlural, namespace: string | undefined, name: string, patch: unknown): Promise<T> {
    return this.call('PATCH', this.path(plural, namespace ?? 'default', name), patch, 'application/merge-patch+json');
  }

  delete<T extends ApiObject>(plural: ResourcePlural, namespace: string | undefined, name: string): Promise<T> {
    return this.call('DELETE', this.path(plural, namespace ?? 'default', name));
  }

  scale(namespace: string, name: string, replicas: number): Promise<Scale> {
    return this.call('PUT', this.path('services', namespace, name, 'scale'), { spec: { replicas } });
  }

  clusterInfo(): Promise<ClusterInfo> {
    return this.call('GET', `${API_GROUP_PATH}/cluster/info`);
  }

  version(): Promise<{ version: string; apiVersion: string }> {
    return this.call('GET', '/version');
  }

  /**
   * A backup of the cluster: the controller's etcd snapshot, as it streams. At the end the
   * bytes are checked against the snapshot's own sha256 (snapshot-check.ts): DataLoss when
   * they do not match; a stream cut short throws Unavailable (or DataLoss).
   */
  async *backup(signal?: AbortSignal): AsyncGenerator<Buffer> {
    const sig = signal ?? this.signal;
    const path = `${API_GROUP_PATH}/cluster/backup`;
    let res;
    try {
      const a = this.auth();
      res = await send({ url: `${this.server}${path}`, method: 'GET', ...(a.agent ? { agent: a.agent } : {}), headers: { accept: 'application/octet-stream', ...a.headers }, ...(sig ? { signal: sig } : {}) });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (res.statusCode >= 400) throw fromResponseText(res.statusCode, await readText(res.body, MAX_ERROR_BODY_BYTES), `the controller at ${this.server}`);
    const sum = new SnapshotChecksum();
    try {
      for await (const chunk of res.body) {
        sum.update(chunk as Buffer);
        yield chunk as Buffer;
      }
    } catch (err) {
      if (sig?.aborted) throw new ShoalError('Canceled', 'backup canceled');
      throw errors.unavailable(`the backup stream from the controller at ${this.server} broke: ${(err as { code?: string }).code ?? toShoalError(err).message}`, { cause: err });
    }
    sum.verify();
  }

  /** Watch events (NDJSON), until `signal` fires or the server ends the stream. An ERROR event is thrown. */
  async *watch<T extends ApiObject>(plural: ResourcePlural, opts: ListOptions & { resourceVersion?: string }, signal: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const ns = opts.all ? undefined : (opts.namespace ?? 'default');
    const q = { watch: '1', labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, resourceVersion: opts.resourceVersion };
    for await (const ev of this.ndjson<WatchEvent<T> | { type: 'ERROR'; object: unknown }>('GET', this.path(plural, ns), q, { signal })) {
      if (ev.type === 'ERROR') throw fromStatus((ev.object as { code?: number }).code ?? 500, ev.object);
      yield ev as WatchEvent<T>;
    }
  }

  /**
   * Sends a request whose answer is NDJSON and yields each object as it arrives. A non-2xx
   * answer is thrown as its ShoalError; `body` (a stream) goes out as application/vnd.shoal.stream.
   */
  async *ndjson<T>(method: 'GET' | 'POST', path: string, q: Record<string, string | undefined>, opts: { body?: Readable; signal?: AbortSignal } = {}): AsyncGenerator<T> {
    const signal = opts.signal ?? this.signal;
    let res;
    try {
      const a = this.auth();
      res = await send({
        url: `${this.server}${path}${this.qs(q)}`,
        method,
        ...(a.agent ? { agent: a.agent } : {}),
        headers: { accept: 'application/x-ndjson', ...a.headers, ...(opts.body ? { 'content-type': STREAM_CONTENT_TYPE } : {}) },
        ...(opts.body ? { body: opts.body } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (res.statusCode >= 400) throw fromResponseText(res.statusCode, await readText(res.body, MAX_ERROR_BODY_BYTES), `the controller at ${this.server}`);
    try {
      for await (const line of ndjsonLines(res.body)) yield parseJsonLine<T>(line, 'the controller');
    } catch (err) {
      if (signal?.aborted) return;
      if (isShoalError(err)) throw err;
      throw errors.unavailable(`the stream from the controller at ${this.server} broke: ${(err as { code?: string }).code ?? toShoalError(err).message}`, { cause: err });
    }
  }

  private logQuery(o: LogOptions): Record<string, string | undefined> {
    return {
      follow: o.follow ? 'true' : undefined,
      tailLines: o.tailLines !== undefined ? String(o.tailLines) : undefined,
      timestamps: o.timestamps ? 'true' : undefined,
      sinceTime: o.sinceTime,
    };
  }

  /** The log entries of one task's container, from whichever node runs it. */
  async *taskLogs(namespace: string, name: string, o: LogOptions = {}, signal?: AbortSignal): AsyncGenerator<TaskLogEntry> {
    const path = `${this.path('tasks', namespace, name)}/log`;
    for await (const e of this.ndjson<TaskLogEntry>('GET', path, this.logQuery(o), signal ? { signal } : {})) {
      if (e.error) throw fromStatus(e.error.code, e.error);
      yield e;
    }
  }

  /** The log entries of every replica of a service, each with its `task`; `{task, error}` for a task that cannot be read. */
  serviceLogs(namespace: string, name: string, o: LogOptions = {}, signal?: AbortSignal): AsyncGenerator<TaskLogEntry> {
    return this.ndjson<TaskLogEntry>('GET', `${this.path('services', namespace, name)}/log`, this.logQuery(o), signal ? { signal } : {});
  }

  /** Runs a command in a task's container; `stdin` (optional) is its input. Yields output frames, then `{exitCode}`. */
  async *execTask(namespace: string, name: string, spec: ExecSpec, stdin?: Readable, signal?: AbortSignal): AsyncGenerator<ExecFrame> {
    const path = `${this.path('tasks', namespace, name)}/exec`;
    const q = { spec: encodeExecSpecParam(spec) };
    for await (const f of this.ndjson<ExecFrame>('POST', path, q, { ...(stdin ? { body: stdin } : {}), ...(signal ? { signal } : {}) })) {
      if (f.error) throw fromStatus(f.error.code, f.error);
      yield f;
    }
  }
}
