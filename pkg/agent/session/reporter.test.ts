import { describe, expect, it } from 'vitest';
import { API_VERSION, errors, taskRef, type Task, type TaskState } from '../../api/index.js';
import { nextStatus, StatusReporter } from './reporter.js';

const task = (state: TaskState, rv: number, extra: Partial<Task['status']> = {}): Task => ({
  apiVersion: API_VERSION, kind: 'Task', metadata: { name: 'web.1.a', namespace: 'default', resourceVersion: String(rv) },
  spec: { serviceName: 'web', serviceGeneration: 1, nodeName: 'n1', desiredState: 'running', template: { spec: { containers: [{ name: 'm', image: 'img' }] } } },
  status: { state, ...extra },
});
const at = new Date('2026-12-01T10:00:00Z');
const KEY = 'default/web.1.a';

describe('nextStatus', () => {
  it('moves the state, stamps the time, keeps the rest and drops the pull progress', () => {
    const t = task('preparing', 1, { message: 'pulling', progress: { current: 1, total: 2 }, containerId: 'c0' });
    expect(nextStatus(t, 'starting', at, { message: 'starting' })).toEqual({ state: 'starting', message: 'starting', containerId: 'c0', timestamp: at.toISOString() });
  });

  it('writes nothing to a task in that state already, unless there is more to say', () => {
    expect(nextStatus(task('running', 1), 'running', at)).toBeUndefined();
    expect(nextStatus(task('running', 1), 'running', at, { ip: '10.0.0.2' })).toMatchObject({ state: 'running', ip: '10.0.0.2' });
  });
});

/** A controller holding one task, with CAS on resourceVersion. */
function fakeApi(initial: Task | undefined) {
  const api = {
    task: initial,
    rv: Number(initial?.metadata.resourceVersion ?? 0),
    writes: 0,
    replaceTaskStatus: async (t: Task): Promise<Task> => {
      api.writes++;
      if (api.task === undefined) throw errors.notFound('task');
      if (api.task.metadata.resourceVersion !== t.metadata.resourceVersion) throw errors.conflict('stale');
      api.task = { ...api.task, status: t.status, metadata: { ...api.task.metadata, resourceVersion: String(++api.rv) } };
      return api.task;
    },
    getTask: async (): Promise<Task | undefined> => api.task,
  };
  return api;
}

/** The reporter's view of the informer's cache. */
function cache(t: Task | undefined) {
  const m = new Map<string, Task>(t ? [[taskRef(t), t]] : []);
  return {
    m,
    get: (k: string) => m.get(k),
    set: (k: string, v: Task | undefined) => (v === undefined ? m.delete(k) : m.set(k, v)),
    observeWrite: (v: Task) => {
      if (m.has(taskRef(v))) m.set(taskRef(v), v);
    },
  };
}

describe('StatusReporter', () => {
  it('writes with the cached resourceVersion and caches the answer', async () => {
    const api = fakeApi(task('assigned', 5));
    const tasks = cache(api.task);
    await new StatusReporter({ api, tasks, now: () => at }).moveTo(KEY, 'accepted', { message: 'accepted' });
    expect(api.task?.status).toMatchObject({ state: 'accepted', message: 'accepted' });
    expect(tasks.m.get(KEY)?.metadata.resourceVersion).toBe('6');
  });

  it('re-reads on a conflict and recomputes from the fresh task', async () => {
    const api = fakeApi(task('assigned', 5));
    const tasks = cache(task('assigned', 4)); // stale
    api.task = task('accepted', 5); // someone else accepted it
    await new StatusReporter({ api, tasks, now: () => at }).moveTo(KEY, 'accepted', { message: 'accepted' });
    expect(api.writes).toBe(2);
    expect(api.task?.metadata.resourceVersion).toBe('6');
    // Moved past the state we meant to write: after the re-read there is nothing to write.
    tasks.m.set(KEY, task('assigned', 4));
    api.task = task('starting', 7);
    api.rv = 7;
    await new StatusReporter({ api, tasks, now: () => at }).moveTo(KEY, 'accepted', { message: 'accepted' });
    expect(api.writes).toBe(3);
    expect(tasks.m.get(KEY)?.status.state).toBe('starting');
  });

  it('does not write a state that may not follow, and forgets a task that is gone', async () => {
    const api = fakeApi(task('running', 5));
    const tasks = cache(api.task);
    const r = new StatusReporter({ api, tasks, now: () => at });
    await r.moveTo(KEY, 'starting');
    expect(api.writes).toBe(0);
    api.task = undefined;
    await r.reject(KEY, errors.invalidArgument('bad'));
    expect(api.writes).toBe(1);
    expect(tasks.m.has(KEY)).toBe(false);
  });

  it('gives up after six conflicts', async () => {
    const api = fakeApi(task('assigned', 5));
    api.replaceTaskStatus = async () => {
      api.writes++;
      throw errors.conflict('stale');
    };
    await new StatusReporter({ api, tasks: cache(api.task), now: () => at }).moveTo(KEY, 'accepted');
    expect(api.writes).toBe(6);
  });
});
