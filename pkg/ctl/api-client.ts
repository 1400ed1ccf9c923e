/**
 * Typed client of the controller API (DESIGN.md section 4). Non-2xx answers become the
 * ShoalError the server threw (via `fromStatus`, causes included); a controller that cannot
 * be reached becomes Unavailable naming the URL.
 */
import { send } from './http.js';
import {
  API_GROUP_PATH, errors, fromStatus, isShoalError, RESOURCES, toShoalError,
  type ApiObject, type List, type ResourcePlural, type WatchEvent,
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
}

export interface Scale {
  kind: 'Scale';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { replicas: number };
  status: { replicas: number };
}

export class ApiClient {
  constructor(readonly server: string, private readonly signal?: AbortSignal) {}

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
      res = await send({
        url: `${this.server}${path}`,
        method,
        headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(this.signal ? { signal: this.signal } : {}),
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.statusCode >= 400) throw fromStatus(res.statusCode, json ?? { message: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` });
    return json as T;
  }

  private unreachable(err: unknown): Error {
    const e = toShoalError(err);
    if (e.code === 'Canceled') return e;
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

  /** Watch events (NDJSON), until `signal` fires or the server ends the stream. An ERROR event is thrown. */
  async *watch<T extends ApiObject>(plural: ResourcePlural, opts: ListOptions & { resourceVersion?: string }, signal: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const ns = opts.all ? undefined : (opts.namespace ?? 'default');
    const url =
      this.server +
      this.path(plural, ns) +
      this.qs({ watch: '1', labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, resourceVersion: opts.resourceVersion });
    let res;
    try {
      res = await send({ url, method: 'GET', headers: { accept: 'application/json' }, signal });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (res.statusCode >= 400) {
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      throw fromStatus(res.statusCode, json);
    }
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line === '') continue;
          const ev = JSON.parse(line) as WatchEvent<T> | { type: 'ERROR'; object: unknown };
          if (ev.type === 'ERROR') throw fromStatus((ev.object as { code?: number }).code ?? 500, ev.object);
          yield ev as WatchEvent<T>;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }
}
