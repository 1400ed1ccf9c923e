/** The container a task asks for (pure): template → ContainerManager CreateOptions. */
import { CONTAINER_SERVICE_LABEL, CONTAINER_TASK_LABEL, errors, parseCpuMillis, parseMemoryBytes, taskRef, type Task } from '../../api/index.js';
import type { CreateOptions } from '../../runtime/index.js';
import type { NetworkMode } from '../../api/index.js';

export const DEFAULT_STOP_GRACE_SECONDS = 10;

export function stopGraceSeconds(task: Task | undefined): number {
  return task?.spec.template.spec.containers[0]?.stopGracePeriodSeconds ?? DEFAULT_STOP_GRACE_SECONDS;
}

/** Throws InvalidArgument when the task cannot be run here (the worker rejects it with the message). */
export function taskCreateOptions(task: Task): CreateOptions {
  const containers = task.spec.template.spec.containers;
  const c = containers[0];
  if (c === undefined) throw errors.invalidArgument(`task ${task.metadata.name} has no container`);
  if (containers.length > 1) throw errors.unimplemented(`task ${task.metadata.name}: several containers per task are not supported`);
  const opts: CreateOptions = {
    name: task.metadata.name,
    image: c.image,
    labels: {
      ...task.spec.template.metadata?.labels,
      [CONTAINER_TASK_LABEL]: taskRef(task),
      [CONTAINER_SERVICE_LABEL]: task.spec.serviceName,
    },
  };
  if (c.command !== undefined) opts.entrypoint = c.command;
  if (c.args !== undefined) opts.cmd = c.args;
  if (c.workingDir !== undefined) opts.workingDir = c.workingDir;
  if (c.user !== undefined) opts.user = c.user;
  if (c.init !== undefined) opts.init = c.init;
  if (c.stopSignal !== undefined) opts.stopSignal = c.stopSignal;
  if (c.stopGracePeriodSeconds !== undefined) opts.stopTimeout = c.stopGracePeriodSeconds;
  if (c.env !== undefined) {
    const env: string[] = [];
    for (const e of c.env) {
      if (e.valueFrom !== undefined) throw errors.unimplemented(`env ${e.name}: valueFrom is not supported`);
      env.push(`${e.name}=${e.value ?? ''}`);
    }
    opts.env = env;
  }
  const limits = c.resources?.limits;
  if (limits?.['memory'] !== undefined) opts.memory = parseMemoryBytes(limits['memory']);
  if (limits?.['cpu'] !== undefined) opts.nanoCpus = parseCpuMillis(limits['cpu']) * 1_000_000;
  if (c.resources?.pids !== undefined) opts.pidsLimit = c.resources.pids;
  // mode: host publishes on the node that runs the task (the scheduler keeps two such tasks
  // off one node); mode: ingress (the default) is the node's load balancer, not a per-container port.
  const hostPorts = (task.spec.ports ?? []).filter((p) => p.mode === 'host');
  if (hostPorts.length > 0) opts.ports = hostPorts.map((p) => `${p.port}:${p.targetPort}/${(p.protocol ?? 'TCP').toLowerCase()}`);
  const net = task.spec.template.spec.network;
  if (net !== undefined) {
    if (net !== 'bridge' && net !== 'host' && net !== 'none') throw errors.unimplemented(`network "${net}": only bridge, host and none are supported`);
    opts.networkMode = net as NetworkMode;
  }
  return opts;
}
