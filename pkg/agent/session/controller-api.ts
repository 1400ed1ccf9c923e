/**
 * The session's view of the controller API, as an interface (faked in tests) and its HTTP
 * implementation over `ApiClient` (errors are the server's ShoalErrors via `fromStatus`;
 * an unreachable controller is Unavailable).
 */
import { isShoalError, type List, type Node, type Task, type WatchEvent } from '../../api/index.js';
import { ApiClient } from '../../client/index.js';

export interface ControllerApi {
  getNode(name: string): Promise<Node | undefined>;
  createNode(node: Node): Promise<Node>;
  /** Replaces metadata and spec (CAS on metadata.resourceVersion); status is ignored by the server. */
  replaceNode(node: Node): Promise<Node>;
  /** Writes the node's status subresource (CAS on metadata.resourceVersion). */
  replaceNodeStatus(node: Node): Promise<Node>;
  heartbeat(name: string): Promise<void>;
  listTasks(fieldSelector: string): Promise<List<Task>>;
  watchTasks(fieldSelector: string, resourceVersion: string, signal: AbortSignal): AsyncIterable<WatchEvent<Task>>;
  getTask(namespace: string, name: string): Promise<Task | undefined>;
  /** Writes the task's status subresource (CAS on metadata.resourceVersion). */
  replaceTaskStatus(task: Task): Promise<Task>;
}

export function httpControllerApi(server: string, signal?: AbortSignal): ControllerApi {
  const c = new ApiClient(server.replace(/\/+$/, ''), signal);
  const orUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (err) {
      if (isShoalError(err, 'NotFound')) return undefined;
      throw err;
    }
  };
  return {
    getNode: (name) => orUndefined(c.get<Node>('nodes', undefined, name)),
    createNode: (node) => c.create<Node>('nodes', undefined, node),
    replaceNode: (node) => c.replace<Node>('nodes', undefined, node.metadata.name, node),
    replaceNodeStatus: (node) => c.call<Node>('PUT', c.path('nodes', undefined, node.metadata.name, 'status'), node),
    heartbeat: async (name) => {
      await c.call<unknown>('POST', c.path('nodes', undefined, name, 'heartbeat'));
    },
    listTasks: (fieldSelector) => c.list<Task>('tasks', { all: true, fieldSelector }),
    watchTasks: (fieldSelector, resourceVersion, sig) => c.watch<Task>('tasks', { all: true, fieldSelector, resourceVersion }, sig),
    getTask: (ns, name) => orUndefined(c.get<Task>('tasks', ns, name)),
    replaceTaskStatus: (task) => c.call<Task>('PUT', c.path('tasks', task.metadata.namespace ?? 'default', task.metadata.name, 'status'), task),
  };
}
