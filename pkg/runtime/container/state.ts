/**
 * The transitions of a container's ContainerState (`state.json`), pure: creating → created →
 * running ⇄ paused → exited. The manager applies them under the container's lock and persists
 * the result; times and what the driver reported come in as arguments.
 */
import { ShoalError } from '../../api/index.js';
import { UNKNOWN_EXIT_CODE, type ExitStatus, type Started } from '../helper/driver.js';
import { ZERO_TIME } from './defaults.js';
import type { ContainerSpec, ContainerState } from './types.js';

/** The state of a container being created (`creating`: a crash now is cleaned up at restore). */
export function newContainerState(): ContainerState {
  return {
    Status: 'creating',
    Pid: 0,
    MonitorPid: 0,
    PidStartTime: '',
    ExitCode: 0,
    OOMKilled: false,
    Error: '',
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
    RestartCount: 0,
  };
}

/** Whether `start` has work to do: false when the container runs already; FailedPrecondition when it cannot start. */
export function needsStart(spec: ContainerSpec, state: ContainerState): boolean {
  if (state.Status === 'running') return false;
  if (state.Status === 'paused') throw new ShoalError('FailedPrecondition', `container ${spec.Name.slice(1)} is paused; unpause it instead`);
  if (state.Status !== 'created' && state.Status !== 'exited') {
    throw new ShoalError('FailedPrecondition', `container ${spec.Name.slice(1)} cannot start from state ${state.Status}`);
  }
  return true;
}

/** A started run: the driver's PIDs, `now` as StartedAt, and the network attachment when there is one. */
export function runningState(prev: ContainerState, started: Started, now: string, network: ContainerState['Network']): ContainerState {
  const next: ContainerState = {
    ...prev,
    Status: 'running',
    Pid: started.pid,
    MonitorPid: started.monitorPid,
    PidStartTime: started.pidStartTime,
    ExitCode: 0,
    OOMKilled: false,
    Error: '',
    StartedAt: now,
    FinishedAt: ZERO_TIME,
  };
  if (network) next.Network = network;
  else delete next.Network;
  return next;
}

/** The exit code of an exit status; UNKNOWN_EXIT_CODE when the status was lost. */
export function exitCodeOf(st: ExitStatus | undefined): number {
  return st?.exitCode ?? UNKNOWN_EXIT_CODE;
}

/**
 * An ended run: no PIDs, no network; the monitor's exit code and time, or, when the status was
 * lost (`st` undefined), UNKNOWN_EXIT_CODE, `now` and `lostMessage` as the Error.
 */
export function exitedState(prev: ContainerState, st: ExitStatus | undefined, oomKilled: boolean, now: string, lostMessage?: string): ContainerState {
  const rest = { ...prev };
  delete rest.Network;
  return {
    ...rest,
    Status: 'exited',
    Pid: 0,
    MonitorPid: 0,
    PidStartTime: '',
    ExitCode: exitCodeOf(st),
    OOMKilled: oomKilled,
    Error: st ? '' : (lostMessage ?? 'exit status lost'),
    FinishedAt: st?.finishedAt || now,
  };
}
