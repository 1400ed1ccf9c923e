export * from './config.js';
export { startAgent, overlayApplier, type RunningAgent, type StartAgentOptions } from './start-agent.js';
export * from './engine/index.js';
export { AgentMetrics, mapLimit, type AgentMetricsOptions, type ContainerSource } from './metrics.js';
export { startMetricsServer, parseListen, type MetricsServer, type MetricsSource } from './metrics-server.js';
export * from './session/index.js';
