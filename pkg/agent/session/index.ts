export { startSession, type AgentSession, type SessionOptions, type SessionLogger, type LocalIngressPort } from './session.js';
export { httpControllerApi, type ControllerApi } from './controller-api.js';
export { containerRuntime, type TaskRuntime, type TaskContainer } from './task-runtime.js';
export { PullProgress } from './pulls.js';
export { nextAction, exitOutcome, type TaskAction, type ContainerView } from './next-action.js';
export { taskCreateOptions, stopGraceSeconds, DEFAULT_STOP_GRACE_SECONDS } from './create-options.js';
export {
  probeMachine, nodeStatusOf, desiredNode, cgroupPathOf, parseMemoryLimit, parseCpuLimit,
  DEFAULT_MAX_PODS, POD_CIDR_ANNOTATION, type MachineInfo, type NodeIdentity,
} from './node-info.js';
export { startTunnel, parseTunnelLine, engineRequest, type AgentTunnel, type TunnelOptions, type TunnelRequest } from './tunnel.js';
export { FakeEngine } from './tunnel-fake-engine.js';
