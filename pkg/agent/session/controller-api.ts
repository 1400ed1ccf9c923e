/**
 * The session's view of the controller API, as an interface (faked in tests) and its HTTP
 * implementation over `ApiClient` (errors are the server's ShoalErrors via `fromStatus`;
 * an unreachable controller is Unavailable).
 *
 * With several controllers (`--controller URL,URL`), each call goes to the current one; a call
 * that cannot reach it (or misses its deadline) moves the agent to the next (ControllerEndpoints).
 *
 * No call waits forever on a link that went dead under it: a unary call has a deadline
 * (UNARY_DEADLINE_MS, or the caller's: a heartbeat's is one period), and missing it is
 * Unavailable. A watch has none (it lasts); the session relists when a beat gets through again.
 */
import { errors, isShoalError, type ApiObject, type List, type Node, type ResourcePlural, type Task, type WatchEvent } from '../../api/index.js';
import { ApiClient, ControllerEndpoints, type CredentialSource } from '../../client/index.js';

/** Deadline of a unary call to the controller. */
export const UNARY_DEADLINE_MS = 10_000;

/** A unary call's own deadline and cancellation. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Default UNARY_DEADLINE_MS. */
  deadlineMs?: number;
}

export interface ControllerApi {
  getNode(name: string): Promise<Node | undefined>;
  createNode(node: Node): Promise<Node>;
  /** Replaces metadata and spec (CAS on metadata.resourceVersion); status is ignored by the server. */
  replaceNode(node: Node): Promise<Node>;
  /** Writes the node's status subresource (CAS on metadata.resourceVersion). */
  replaceNodeStatus(node: Node): Promise<Node>;
  heartbeat(name: string, opts?: CallOptions): Promise<void>;
  listTasks(fieldSelector: string, opts?: CallOptions): Promise<List<Task>>;
  watchTasks(fieldSelector: string, resourceVersion: string, signal: AbortSignal): AsyncIterable<WatchEvent<Task>>;
  getTask(namespace: string, name: string): Promise<Task | undefined>;
  /** Writes the task's status subresource (CAS on metadata.resourceVersion). */
  replaceTaskStatus(task: Task): Promise<Task>;
  /** Every object of a kind, all namespaces (the cluster view: nodes, endpoints). */
  listAll<T extends ApiObject>(plural: ResourcePlural, opts?: CallOptions): Promise<List<T>>;
  watchAll<T extends ApiObject>(plural: ResourcePlural, resourceVersion: string, signal: AbortSignal): AsyncIterable<WatchEvent<T>>;
  /** The value (base64) of a secret or config that `task`, assigned to this node, uses. */
  taskReference(kind: 'secrets' | 'configs', task: Task, name: string, opts?: CallOptions): Promise<string>;
}

export function httpControllerApi(controllers: string | ControllerEndpoints, signal?: AbortSignal, credentials?: CredentialSource): ControllerApi {
  const endpoints = typeof controllers === 'string' ? ControllerEndpoints.parse(controllers) : controllers;
  const moveOn = (url: string): void => endpoints.unreachable(url);
  /** Runs one unary call with a client bound to its deadline and to the call's and the session's signals. */
  const unary = async <T>(fn: (c: ApiClient) => Promise<T>, o: CallOptions = {}): Promise<T> => {
    const ms = o.deadlineMs ?? UNARY_DEADLINE_MS;
    const deadline = AbortSignal.timeout(ms);
    const all = AbortSignal.any([deadline, ...(signal ? [signal] : []), ...(o.signal ? [o.signal] : [])]);
    const base = endpoints.current;
    try {
      return await fn(new ApiClient(base, all, moveOn, credentials));
    } catch (err) {
      if (deadline.aborted && isShoalError(err, 'Canceled')) {
        moveOn(base);
        throw errors.unavailable(`the controller at ${base} did not answer in ${ms} ms`, { cause: err });
      }
      throw err;
    }
  };
  const orUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (err) {
      if (isShoalError(err, 'NotFound')) return undefined;
      throw err;
    }
  };
  return {
    getNode: (name) => orUndefined(unary((c) => c.get<Node>('nodes', undefined, name))),
    createNode: (node) => unary((c) => c.create<Node>('nodes', undefined, node)),
    replaceNode: (node) => unary((c) => c.replace<Node>('nodes', undefined, node.metadata.name, node)),
    replaceNodeStatus: (node) => unary((c) => c.call<Node>('PUT', c.path('nodes', undefined, node.metadata.name, 'status'), node)),
    heartbeat: (name, o) =>
      unary(async (c) => {
        await c.call<unknown>('POST', c.path('nodes', undefined, name, 'heartbeat'));
      }, o),
    listTasks: (fieldSelector, o) => unary((c) => c.list<Task>('tasks', { all: true, fieldSelector }), o),
    watchTasks: (fieldSelector, resourceVersion, sig) => new ApiClient(endpoints.current, signal, moveOn, credentials).watch<Task>('tasks', { all: true, fieldSelector, resourceVersion }, sig),
    getTask: (ns, name) => orUndefined(unary((c) => c.get<Task>('tasks', ns, name))),
    listAll: <T extends ApiObject>(plural: ResourcePlural, o?: CallOptions) => unary((c) => c.list<T>(plural, { all: true }), o),
    watchAll: <T extends ApiObject>(plural: ResourcePlural, resourceVersion: string, sig: AbortSignal) =>
      new ApiClient(endpoints.current, signal, moveOn, credentials).watch<T>(plural, { all: true, resourceVersion }, sig),
    taskReference: (kind, task, name, o) =>
      unary(async (c) => {
        const path = `${c.path('tasks', task.metadata.namespace ?? 'default', task.metadata.name)}/${kind}/${encodeURIComponent(name)}`;
        return (await c.call<{ data: string }>('GET', path)).data;
      }, o),
    replaceTaskStatus: (task) => unary((c) => c.call<Task>('PUT', c.path('tasks', task.metadata.namespace ?? 'default', task.metadata.name, 'status'), task)),
  };
}
