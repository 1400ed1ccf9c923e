/**
 * One pass of the worker over one task (swarmkit's task manager with `exec.Do`): ask
 * `nextAction(task, container)` for the next step, perform it against the runtime and write
 * the status, then ask again, at most 12 steps per pass. A report or accept that changed
 * nothing (another writer won, or nothing to write) ends the pass, so it never spins. A task
 * that is gone (deleted, or assigned elsewhere) has its container stopped and removed, but only
 * once the task list is known: an unreachable controller never removes anything. Tasks start
 * only once the node's network is ready (the session kicks every task then).
 *
 * `run` is: pull when the image is absent (`preparing`, one pull per image across tasks,
 * progress written throttled), then `starting`: create (a container holding the task's name
 * without its label is not ours and goes) and start. The next pass reports `running`.
 * Failures to build the options, pull, create or start write `rejected`.
 */
import { errors, isShoalError, isTerminal, toShoalError, type Task, type TaskStatus } from '../../api/index.js';
import type { CreateOptions } from '../../runtime/index.js';
import { stopGraceSeconds, taskCreateOptions } from './create-options.js';
import type { SessionLogger } from './logger.js';
import { exitOutcome, nextAction, type TaskAction } from './next-action.js';
import { ProgressWriter, type SharedPulls } from './pulls.js';
import type { StatusReporter } from './reporter.js';
import type { TaskInformer } from './task-informer.js';
import type { TaskFiles } from './task-files.js';
import type { TaskContainer, TaskRuntime } from './task-runtime.js';

/** Steps per pass at most (a task goes assigned → running in five). */
const MAX_STEPS = 12;
/** Grace before a container of a task that is gone is killed. */
const GONE_STOP_SECONDS = 10;

export interface TaskExecutorOptions {
  tasks: Pick<TaskInformer, 'get' | 'synced'>;
  runtime: TaskRuntime;
  reporter: StatusReporter;
  pulls: SharedPulls;
  log: SessionLogger;
  signal: AbortSignal;
  now(): Date;
  /** Minimum interval between two `status.progress` writes while pulling. */
  progressIntervalMs: number;
  /** Tasks may start (the node's network is on its pod CIDR, when it must be). */
  networkReady(): boolean;
  /** Watch a running container for its exit (Worker.watchExit). */
  watchExit(key: string, c: TaskContainer): void;
  /** The task's secrets and configs as files for its container (absent: tasks that use them are rejected). */
  files?: TaskFiles;
  /** The agent's own TCP ports: a task publishing one is rejected (it would capture the agent's traffic). */
  ownPorts?: ReadonlySet<number>;
}

export class TaskExecutor {
  constructor(private readonly opts: TaskExecutorOptions) {}

  /** Advances task `key` as far as it goes now. */
  async pass(key: string): Promise<void> {
    const { tasks, signal } = this.opts;
    for (let step = 0; step < MAX_STEPS && !signal.aborted; step++) {
      const task = tasks.get(key);
      const c = this.containerOf(key);
      if (task === undefined) {
        if (c === undefined || !tasks.synced()) return;
        await this.removeGone(key, c);
        continue;
      }
      const action = nextAction(task, c);
      if (action.kind === 'run' && !this.opts.networkReady()) return;
      if (action.kind === 'none') {
        if (c !== undefined) this.opts.watchExit(key, c);
        return;
      }
      const before = task.metadata.resourceVersion;
      await this.perform(key, task, c, action);
      const after = tasks.get(key);
      if ((action.kind === 'accept' || action.kind.startsWith('report')) && after?.metadata.resourceVersion === before && this.containerOf(key)?.status === c?.status) return;
    }
  }

  /** The task's container: a running (or paused) one first. */
  private containerOf(key: string): TaskContainer | undefined {
    const mine = this.opts.runtime.taskContainers(key);
    return mine.find((c) => c.status === 'running' || c.status === 'paused') ?? mine[0];
  }

  private async removeGone(key: string, c: TaskContainer): Promise<void> {
    const { runtime, log } = this.opts;
    log.info({ task: key, container: c.id.slice(0, 12) }, 'removing the container of a task that is gone');
    if (c.status === 'running' || c.status === 'paused') await runtime.stop(c.id, GONE_STOP_SECONDS);
    await runtime.remove(c.id);
    await this.opts.files?.release(c.name);
  }

  private async perform(key: string, task: Task, c: TaskContainer | undefined, action: TaskAction): Promise<void> {
    const { reporter, runtime, now } = this.opts;
    switch (action.kind) {
      case 'none':
        return;
      case 'accept':
        return reporter.moveTo(key, 'accepted', { message: 'accepted' });
      case 'run':
        return this.run(key, task);
      case 'discard':
        if (c !== undefined) {
          await runtime.remove(c.id);
          await this.opts.files?.release(c.name);
        }
        return;
      case 'report-running':
        if (c === undefined) return;
        this.opts.watchExit(key, c);
        return reporter.moveTo(key, 'running', {
          message: 'started',
          containerId: c.id,
          ...(c.startedAt ? { startedAt: c.startedAt } : {}),
          ...(c.ip !== undefined ? { ip: c.ip } : {}),
        });
      case 'report-exit': {
        if (c === undefined) return;
        const o = exitOutcome(c);
        return reporter.moveTo(key, o.state, { message: o.message, exitCode: o.exitCode, containerId: c.id, finishedAt: c.finishedAt || now().toISOString() });
      }
      case 'report-lost':
        return reporter.moveTo(key, 'failed', { message: 'task: container lost', finishedAt: now().toISOString() });
      case 'stop':
        if (c !== undefined) await runtime.stop(c.id, stopGraceSeconds(task));
        return;
      case 'report-shutdown': {
        const extra: Partial<TaskStatus> = { message: 'shut down', finishedAt: now().toISOString() };
        if (c !== undefined && c.status === 'exited') extra.exitCode = c.exitCode;
        return reporter.moveTo(key, 'shutdown', extra);
      }
    }
  }

  /** pull (preparing) → create + start (starting); the next pass reports running. */
  private async run(key: string, task: Task): Promise<void> {
    const { reporter, tasks } = this.opts;
    let create: CreateOptions;
    try {
      create = taskCreateOptions(task);
    } catch (err) {
      return reporter.reject(key, err);
    }
    const own = (task.spec.ports ?? []).find((p) => (p.protocol ?? 'TCP') === 'TCP' && this.opts.ownPorts?.has(p.port));
    if (own !== undefined) return reporter.reject(key, errors.failedPrecondition(`port ${own.port} is the agent's own on this node (--metrics-listen): publish the service on another port`));
    try {
      await this.prepare(key, create.image);
    } catch (err) {
      if (this.opts.signal.aborted) return;
      return reporter.reject(key, errors.upstream(`pulling ${create.image}: ${toShoalError(err).message}`));
    }
    const latest = tasks.get(key);
    if (latest === undefined || latest.spec.desiredState !== 'running' || isTerminal(latest.status.state)) return;
    const refs = (task.spec.template.spec.secrets?.length ?? 0) + (task.spec.template.spec.configs?.length ?? 0);
    if (refs > 0) {
      if (this.opts.files === undefined) return reporter.reject(key, errors.unimplemented('this agent cannot mount secrets and configs'));
      try {
        create.binds = [...(create.binds ?? []), ...(await this.opts.files.prepare(task, this.opts.signal))];
      } catch (err) {
        if (this.opts.signal.aborted) return;
        await this.opts.files.release(create.name ?? task.metadata.name);
        return reporter.reject(key, errors.unavailable(`getting the task's secrets and configs: ${toShoalError(err).message}`));
      }
    }
    await reporter.moveTo(key, 'starting', { message: 'starting' });
    await this.createAndStart(key, create);
  }

  /**
   * Pulls the image when it is absent. `preparing` is written only then: with the image
   * present the task goes from accepted to starting, one status write (and etcd txn) less.
   */
  private async prepare(key: string, image: string): Promise<void> {
    const { runtime, reporter, pulls } = this.opts;
    if (await runtime.hasImage(image)) return;
    await reporter.moveTo(key, 'preparing', { message: `pulling ${image}` });
    const progress = new ProgressWriter(this.opts.progressIntervalMs, (snapshot) =>
      reporter.write(key, (t) => (t.status.state === 'preparing' ? { ...t.status, progress: snapshot } : undefined)));
    await pulls.pull(image, progress.add);
    await progress.settled();
  }

  private async createAndStart(key: string, create: CreateOptions): Promise<void> {
    const { runtime, reporter } = this.opts;
    let id: string;
    try {
      id = await runtime.create(create);
    } catch (err) {
      if (!isShoalError(err, 'AlreadyExists')) return reporter.reject(key, err);
      // A container holding the task's name without its label: not ours to keep.
      const holder = runtime.taskContainers().find((c) => c.name === create.name);
      if (holder !== undefined) await runtime.remove(holder.id);
      try {
        id = await runtime.create(create);
      } catch (err2) {
        return reporter.reject(key, err2);
      }
    }
    try {
      await runtime.start(id);
    } catch (err) {
      await runtime.remove(id).catch(() => undefined);
      await this.opts.files?.release(create.name ?? '');
      return reporter.reject(key, err);
    }
  }
}
