import { describe, expect, it } from 'vitest';
import { API_VERSION, type Task, type TaskState } from '../../api/index.js';
import { exitOutcome, nextAction, type ContainerView } from './next-action.js';

const task = (state: TaskState, desiredState: 'running' | 'shutdown' = 'running'): Task => ({
  apiVersion: API_VERSION,
  kind: 'Task',
  metadata: { name: 'web.1.abc', namespace: 'default', resourceVersion: '5' },
  spec: { serviceName: 'web', serviceGeneration: 1, nodeName: 'n1', desiredState, template: { spec: { containers: [{ name: 'm', image: 'busybox' }] } } },
  status: { state },
});
const ctr = (status: ContainerView['status'], exitCode = 0, oomKilled = false): ContainerView => ({ id: 'c1', status, exitCode, oomKilled });

describe('nextAction', () => {
  it('walks a new task from assigned to running', () => {
    expect(nextAction(task('pending'), undefined).kind).toBe('none');
    expect(nextAction(task('assigned'), undefined).kind).toBe('accept');
    expect(nextAction(task('accepted'), undefined).kind).toBe('run');
    expect(nextAction(task('preparing'), undefined).kind).toBe('run');
    expect(nextAction(task('starting'), ctr('running')).kind).toBe('report-running');
    expect(nextAction(task('running'), ctr('running')).kind).toBe('none');
  });
  it('reports exits and lost containers', () => {
    expect(nextAction(task('running'), ctr('exited', 3)).kind).toBe('report-exit');
    expect(nextAction(task('running'), undefined).kind).toBe('report-lost');
    expect(nextAction(task('starting'), ctr('created')).kind).toBe('discard');
  });
  it('stops on desired shutdown and never reports an exit as failure then', () => {
    expect(nextAction(task('running', 'shutdown'), ctr('running')).kind).toBe('stop');
    expect(nextAction(task('running', 'shutdown'), ctr('exited', 143)).kind).toBe('report-shutdown');
    expect(nextAction(task('assigned', 'shutdown'), undefined).kind).toBe('report-shutdown');
  });
  it('stops the containers of terminal tasks and keeps them (with their logs) while the task exists', () => {
    expect(nextAction(task('orphaned'), ctr('running')).kind).toBe('stop');
    expect(nextAction(task('complete'), ctr('exited')).kind).toBe('none');
    expect(nextAction(task('shutdown', 'shutdown'), ctr('exited', 143)).kind).toBe('none');
    expect(nextAction(task('failed'), undefined).kind).toBe('none');
  });
});

describe('exitOutcome', () => {
  it('maps exit codes and OOM kills', () => {
    expect(exitOutcome(ctr('exited', 0))).toMatchObject({ state: 'complete', exitCode: 0 });
    expect(exitOutcome(ctr('exited', 3))).toEqual({ state: 'failed', exitCode: 3, message: 'task: non-zero exit (3)' });
    expect(exitOutcome(ctr('exited', 137, true)).message).toBe('OOM killed');
  });
});
