/**
 * Labels and object references that are contracts between the parts. Two families, named apart: the labels of Task
 * objects (written by the orchestrator) and the labels an agent puts on the containers it runs
 * for tasks (read back when it re-adopts them and when the tunnel checks a request).
 */
import type { Task } from './types.js';

/** On a Task object: the name of the service it belongs to. */
export const TASK_SERVICE_LABEL = 'shoal.io/service';

/** On a task's container: the task's reference, `<namespace>/<name>` (see `taskRef`). */
export const CONTAINER_TASK_LABEL = 'shoal.task';
/** On a task's container: the name of the task's service. */
export const CONTAINER_SERVICE_LABEL = 'shoal.service';

/** `<namespace>/<name>`: how the parts name a namespaced object in maps, indexes and labels. */
export function namespacedName(namespace: string | undefined, name: string): string {
  return `${namespace ?? 'default'}/${name}`;
}

/** `<namespace>/<name>` of a task: the value of CONTAINER_TASK_LABEL and the agent's key for the task. */
export function taskRef(task: Pick<Task, 'metadata'>): string {
  return namespacedName(task.metadata.namespace, task.metadata.name);
}

/** `<namespace>/<service>` of the service a task belongs to. */
export function taskServiceRef(task: Pick<Task, 'metadata' | 'spec'>): string {
  return namespacedName(task.metadata.namespace, task.spec.serviceName);
}
