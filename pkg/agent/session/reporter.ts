/**
 * Task status writes (swarmkit's reporter). A write computes the status from the freshest
 * task in the cache and PUTs the status subresource with that task's resourceVersion (CAS).
 * A 409 Conflict or 422 Invalid (someone else moved the state forward) re-reads the task and
 * computes again, six attempts in all; a state that may not follow the current one
 * (`canTransition`) is not written; a 404 drops the task from the cache. The answer goes into
 * the cache, so the worker's next step sees it. `nextStatus` is the pure part.
 */
import { canTransition, isShoalError, toShoalError, type Task, type TaskState, type TaskStatus } from '../../api/index.js';
import type { ControllerApi } from './controller-api.js';
import type { TaskInformer } from './task-informer.js';

/** From the task as it is now, the status to write; undefined: nothing to write. */
export type StatusMutation = (t: Task) => TaskStatus | undefined;

/**
 * The task's status moved to `state` at `at`, with `extra` fields (pure). Undefined when the
 * task is in that state already and there is nothing else to say. `progress` (of a pull) goes.
 */
export function nextStatus(t: Task, state: TaskState, at: Date, extra: Partial<TaskStatus> = {}): TaskStatus | undefined {
  if (t.status.state === state && Object.keys(extra).length === 0) return undefined;
  const { progress: _p, ...rest } = t.status;
  return { ...rest, state, timestamp: at.toISOString(), ...extra };
}

export interface StatusReporterOptions {
  api: Pick<ControllerApi, 'replaceTaskStatus' | 'getTask'>;
  tasks: Pick<TaskInformer, 'get' | 'set' | 'observeWrite'>;
  now(): Date;
}

export class StatusReporter {
  constructor(private readonly opts: StatusReporterOptions) {}

  /** Writes the status `mutate` computes from the freshest task (see the file comment). */
  async write(key: string, mutate: StatusMutation): Promise<void> {
    const { api, tasks } = this.opts;
    for (let attempt = 0; attempt < 6; attempt++) {
      const t = tasks.get(key);
      if (t === undefined) return;
      const next = mutate(t);
      if (next === undefined || !canTransition(t.status.state, next.state)) return;
      try {
        tasks.observeWrite(await api.replaceTaskStatus({ ...t, status: next }));
        return;
      } catch (err) {
        if (isShoalError(err, 'NotFound')) {
          tasks.set(key, undefined);
          return;
        }
        if (!isShoalError(err, 'Conflict') && !isShoalError(err, 'Invalid')) throw err;
        tasks.set(key, await api.getTask(t.metadata.namespace ?? 'default', t.metadata.name));
      }
    }
  }

  /** Moves the task to `state` (stamped with the time of each attempt). */
  moveTo(key: string, state: TaskState, extra: Partial<TaskStatus> = {}): Promise<void> {
    return this.write(key, (t) => nextStatus(t, state, this.opts.now(), extra));
  }

  /** `rejected`, with the error's message. */
  reject(key: string, err: unknown): Promise<void> {
    return this.moveTo(key, 'rejected', { message: toShoalError(err).message, finishedAt: this.opts.now().toISOString() });
  }
}
