export { startSession, type AgentSession, type SessionOptions } from './session.js';
export type { SessionLogger } from './logger.js';
export type { LocalIngressPort } from './ingress.js';
export { httpControllerApi, type ControllerApi } from './controller-api.js';
export { containerRuntime, type TaskRuntime, type TaskContainer } from './task-runtime.js';
export { probeMachine, type MachineInfo, type NodeIdentity } from './node-info.js';
export { startTunnel, type AgentTunnel, type TunnelOptions } from './tunnel.js';
export { FakeEngine } from './tunnel-fake-engine.js';
export * from './task-files.js';
