/**
 * The task worker's decision, pure (swarmkit's `exec.Do` shape): from the task as the
 * controller has it and the local container (if any), the one next step. The executor
 * performs it, writes the status, and asks again until the answer is `none`.
 */
import { isTerminal, taskStateIndex, type Task } from '../../api/index.js';

/** What the worker needs to know of the task's container. */
export interface ContainerView {
  id: string;
  status: 'creating' | 'created' | 'running' | 'paused' | 'exited' | 'dead' | 'removing';
  exitCode: number;
  oomKilled: boolean;
  error?: string;
  startedAt?: string;
  finishedAt?: string;
}

export type TaskAction =
  | { kind: 'none' }
  /** assigned → accepted. */
  | { kind: 'accept' }
  /** Pull if absent (preparing), create + start (starting), then report running. */
  | { kind: 'run' }
  /** A container left half-made by a crash before it ran: remove it, then `run` again. */
  | { kind: 'discard' }
  /** The container runs but the task does not say so yet. */
  | { kind: 'report-running' }
  /** The container exited: complete (0) or failed. */
  | { kind: 'report-exit' }
  /** The task says running but its container is gone. */
  | { kind: 'report-lost' }
  /** Stop the container gracefully (desired shutdown, or the task is terminal/orphaned). */
  | { kind: 'stop' }
  /** desiredState shutdown and nothing runs: write `shutdown`. */
  | { kind: 'report-shutdown' };

const running = (c: ContainerView | undefined): boolean => c !== undefined && (c.status === 'running' || c.status === 'paused');

export function nextAction(task: Task, c: ContainerView | undefined): TaskAction {
  const state = task.status.state;
  if (isTerminal(state)) {
    // The exited container stays while the task does (its logs are the task's logs, as with
    // Swarm's task history); it goes when the orchestrator drops the task from the history.
    return running(c) ? { kind: 'stop' } : { kind: 'none' };
  }
  if (task.spec.desiredState === 'shutdown') {
    if (running(c)) return { kind: 'stop' };
    // Whatever the container's exit code (SIGTERM gives 143), a desired shutdown ends as `shutdown`.
    return { kind: 'report-shutdown' };
  }
  // desiredState: running
  if (taskStateIndex(state) < taskStateIndex('assigned')) return { kind: 'none' };
  if (state === 'assigned') return { kind: 'accept' };
  if (running(c)) return state === 'running' ? { kind: 'none' } : { kind: 'report-running' };
  if (c !== undefined && (c.status === 'exited' || c.status === 'dead')) {
    // Exited after it ran (StartedAt set): the task's result. Never started: a failed start.
    return { kind: 'report-exit' };
  }
  if (c !== undefined) return { kind: 'discard' };
  if (state === 'running') return { kind: 'report-lost' };
  return { kind: 'run' };
}

/** The terminal state and message for an exited container. */
export function exitOutcome(c: ContainerView): { state: 'complete' | 'failed'; exitCode: number; message: string } {
  if (c.oomKilled) return { state: 'failed', exitCode: c.exitCode, message: 'OOM killed' };
  if (c.exitCode === 0) return { state: 'complete', exitCode: 0, message: 'finished' };
  if (c.error !== undefined && c.error !== '') return { state: 'failed', exitCode: c.exitCode, message: `task: ${c.error}` };
  return { state: 'failed', exitCode: c.exitCode, message: `task: non-zero exit (${c.exitCode})` };
}
