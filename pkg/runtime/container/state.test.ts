import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { UNKNOWN_EXIT_CODE } from '../helper/driver.js';
import { ZERO_TIME } from './defaults.js';
import { exitCodeOf, exitedState, needsStart, newContainerState, runningState } from './state.js';
import type { ContainerSpec, ContainerState } from './types.js';

const spec = { Id: 'ab'.repeat(32), Name: '/web' } as ContainerSpec;
const at = (s: ContainerState['Status']): ContainerState => ({ ...newContainerState(), Status: s });
const net = { networks: { bridge: { IPAddress: '10.0.0.2' } }, ports: [] };

describe('container state transitions', () => {
  it('starts in creating, with zero times', () => {
    expect(newContainerState()).toEqual({
      Status: 'creating', Pid: 0, MonitorPid: 0, PidStartTime: '', ExitCode: 0, OOMKilled: false, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME,
      RestartCount: 0,
    });
  });
  it('starts from created and exited only', () => {
    expect(needsStart(spec, at('created'))).toBe(true);
    expect(needsStart(spec, at('exited'))).toBe(true);
    expect(needsStart(spec, at('running'))).toBe(false);
    for (const s of ['paused', 'creating', 'removing'] as const) {
      try {
        needsStart(spec, at(s));
        expect.unreachable();
      } catch (err) {
        expect(isShoalError(err) && err.code).toBe('FailedPrecondition');
      }
    }
  });
  it('a run starts with fresh PIDs, times and network, and clears the last exit', () => {
    const prev: ContainerState = { ...at('exited'), ExitCode: 3, OOMKilled: true, Error: 'x', FinishedAt: '2026-01-01T00:00:00Z', RestartCount: 2, Network: net };
    const r = runningState(prev, { pid: 10, monitorPid: 9, pidStartTime: '77' }, '2026-02-01T00:00:00Z', undefined);
    expect(r).toEqual({
      Status: 'running', Pid: 10, MonitorPid: 9, PidStartTime: '77', ExitCode: 0, OOMKilled: false, Error: '', StartedAt: '2026-02-01T00:00:00Z',
      FinishedAt: ZERO_TIME, RestartCount: 2,
    });
    expect(runningState(prev, { pid: 10, monitorPid: 9, pidStartTime: '77' }, 'now', net).Network).toEqual(net);
  });
  it('an exit records the code and time, or says the status was lost', () => {
    const run = runningState(at('created'), { pid: 10, monitorPid: 9, pidStartTime: '77' }, 'then', net);
    expect(exitedState(run, { exitCode: 137, finishedAt: 'fin' }, true, 'now')).toEqual({
      ...run, Status: 'exited', Pid: 0, MonitorPid: 0, PidStartTime: '', ExitCode: 137, OOMKilled: true, Error: '', FinishedAt: 'fin', Network: undefined,
    });
    expect(exitedState(run, { exitCode: 0, finishedAt: 'fin' }, false, 'now')).not.toHaveProperty('Network');
    expect(exitedState(run, undefined, false, 'now', 'gone')).toMatchObject({ ExitCode: UNKNOWN_EXIT_CODE, Error: 'gone', FinishedAt: 'now' });
    expect(exitedState(run, undefined, false, 'now').Error).toBe('exit status lost');
    expect(exitedState(run, { exitCode: 1, finishedAt: '' }, false, 'now').FinishedAt).toBe('now');
    expect(exitCodeOf(undefined)).toBe(255);
    expect(exitCodeOf({ exitCode: 2, finishedAt: '' })).toBe(2);
  });
});
