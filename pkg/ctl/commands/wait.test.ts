import { describe, expect, it } from 'vitest';
import { API_VERSION, type Service, type Task, type TaskStatus } from '../../api/index.js';
import { RolloutWatch } from './wait.js';

const svc = (replicas: number, ready: number, extra: Partial<NonNullable<Service['status']>> = {}): Service => ({
  apiVersion: API_VERSION, kind: 'Service', metadata: { name: 'web', namespace: 'default', generation: 2 },
  spec: { replicas, template: { spec: { containers: [{ name: 'm', image: 'i' }] } } },
  status: { replicas, readyReplicas: ready, updatedReplicas: ready, observedGeneration: 2, ...extra },
});

const task = (name: string, state: TaskStatus['state'], status: Partial<TaskStatus> = {}, desired: 'running' | 'shutdown' = 'running'): Task => ({
  apiVersion: API_VERSION, kind: 'Task', metadata: { name, namespace: 'default' },
  spec: { serviceName: 'web', serviceGeneration: 2, desiredState: desired, nodeName: 'n1', template: { spec: { containers: [{ name: 'm', image: 'i' }] } } },
  status: { state, ...status },
});

describe('RolloutWatch', () => {
  it('describes progress and is done once converged', () => {
    const w = new RolloutWatch('web');
    const v = w.observe(svc(3, 1), [task('web.1', 'running'), task('web.2', 'preparing', { progress: { current: 40, total: 100 } }), task('web.3', 'pending')], 0);
    expect(v).toEqual({ done: false, line: 'service/web: 1/3 running, 1 pending, 1 preparing (pulling 40%)' });
    expect(w.observe(svc(3, 3), [task('web.1', 'running'), task('web.2', 'running'), task('web.3', 'running')], 1).done).toBe(true);
  });

  it('fails on a task that fails after the wait began, not on old history', () => {
    const w = new RolloutWatch('web');
    const old = task('web.1.old', 'failed', { message: 'task: non-zero exit (1)' });
    expect(w.observe(svc(1, 0), [old, task('web.1.new', 'starting')], 0).failure).toBeUndefined();
    const v = w.observe(svc(1, 0), [old, task('web.1.new', 'failed', { message: 'task: non-zero exit (2)' })], 500);
    expect(v.failure).toBe('task web.1.new failed on n1: task: non-zero exit (2)');
    // Also when the orchestrator has already replaced it (desiredState shutdown) before this poll.
    const w3 = new RolloutWatch('web');
    w3.observe(svc(1, 0), [task('web.1.b', 'starting')], 0);
    expect(w3.observe(svc(1, 0), [task('web.1.b', 'failed', { message: 'x' }, 'shutdown'), task('web.1.c', 'pending')], 1).failure).toBe('task web.1.b failed on n1: x');
    // A task we shut down ourselves (scale down, update) is no failure.
    const w2 = new RolloutWatch('web');
    w2.observe(svc(1, 1), [task('web.2.a', 'running', {}, 'shutdown')], 0);
    expect(w2.observe(svc(1, 1, { readyReplicas: 0 }), [task('web.2.a', 'shutdown', {}, 'shutdown')], 1).failure).toBeUndefined();
  });

  it('fails on a rejected task with its message', () => {
    const w = new RolloutWatch('web');
    w.observe(svc(1, 0), [task('web.1.a', 'preparing')], 0);
    expect(w.observe(svc(1, 0), [task('web.1.a', 'rejected', { message: 'pulling r/x:1: manifest unknown' })], 1).failure).toMatch(/rejected on n1: pulling r\/x:1/);
  });

  it('fails once a task stays unschedulable past the grace period', () => {
    const w = new RolloutWatch('web', 1000);
    const pend = task('web.1.a', 'pending', { reason: 'Unschedulable', message: 'no node fits: insufficient memory on 3 nodes' });
    expect(w.observe(svc(1, 0), [pend], 0).failure).toBeUndefined();
    expect(w.observe(svc(1, 0), [pend], 900).failure).toBeUndefined();
    expect(w.observe(svc(1, 0), [pend], 1000).failure).toBe('task web.1.a cannot be scheduled: no node fits: insufficient memory on 3 nodes');
    // Placed in between: the clock starts again.
    const w2 = new RolloutWatch('web', 1000);
    w2.observe(svc(1, 0), [pend], 0);
    w2.observe(svc(1, 0), [task('web.1.a', 'assigned')], 500);
    expect(w2.observe(svc(1, 0), [pend], 1200).failure).toBeUndefined();
  });
});
