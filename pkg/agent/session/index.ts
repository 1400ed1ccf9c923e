export { startSession, type AgentSession, type SessionOptions } from './session.js';
export type { SessionLogger } from './logger.js';
export type { LocalIngressPort } from './ingress.js';
export { httpControllerApi, type ControllerApi } from './controller-api.js';
export { containerRuntime, type TaskRuntime, type TaskContainer } from './task-runtime.js';
export { PullProgress } from './pulls.js';
export { nextAction, exitOutcome, type TaskAction, type ContainerView } from './next-action.js';
export { taskCreateOptions, stopGraceSeconds, DEFAULT_STOP_GRACE_SECONDS } from './create-options.js';
export {
  probeMachine, nodeStatusOf, desiredNode, cgroupPathOf, parseMemoryLimit, parseCpuLimit,
  DEFAULT_MAX_PODS, POD_CIDR_ANNOTATION, type MachineInfo, type NodeIdentity,
} from './node-info.js';
export { startTunnel, type AgentTunnel, type TunnelOptions } from './tunnel.js';
export { parseTunnelLine, engineRequest } from './tunnel-protocol.js';
export { FakeEngine } from './tunnel-fake-engine.js';
