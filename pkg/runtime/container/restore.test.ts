import { describe, expect, it } from 'vitest';
import { ZERO_TIME } from './defaults.js';
import { restoreVerdict } from './restore.js';
import type { ContainerSpec, ContainerState } from './types.js';

const ID = 'ab'.repeat(32);
const spec = { Id: ID, Name: '/c' } as ContainerSpec;
const state = (Status: ContainerState['Status']): ContainerState => ({
  Status, Pid: 0, MonitorPid: 0, PidStartTime: '', ExitCode: 0, OOMKilled: false, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, RestartCount: 0,
});

describe('restoreVerdict', () => {
  it('discards what is half-made, half-removed, unreadable or misfiled', () => {
    expect(restoreVerdict(ID, undefined, state('running'))).toBe('discard');
    expect(restoreVerdict(ID, spec, undefined)).toBe('discard');
    expect(restoreVerdict(ID, spec, state('creating'))).toBe('discard');
    expect(restoreVerdict(ID, spec, state('removing'))).toBe('discard');
    expect(restoreVerdict('cd'.repeat(32), spec, state('exited'))).toBe('discard');
  });
  it('keeps stopped containers and watches live ones', () => {
    expect(restoreVerdict(ID, spec, state('created'))).toBe('stopped');
    expect(restoreVerdict(ID, spec, state('exited'))).toBe('stopped');
    expect(restoreVerdict(ID, spec, state('running'))).toBe('live');
    expect(restoreVerdict(ID, spec, state('paused'))).toBe('live');
  });
});
