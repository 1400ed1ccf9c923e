export { freeLoopbackPort } from './ports.js';
export { TempDirs } from './tmp.js';
export { run, type RunOptions, type RunResult } from './exec.js';
export { startRegistry, registryAvailable, type TestRegistry, type RegistryOptions } from './registry.js';
export { startTestAgent, builtCommandsPresent, AGENT_JS, CTL_JS, type TestAgent, type AgentOptions } from './agent.js';
export { startEtcd, etcdAvailable, type TestEtcd, type EtcdOptions } from './etcd.js';
export { until } from './wait.js';
export {
  createNetnsLan, ipInCidr, killIfItIs, netnsToolsAvailable, sweepCgroupParent, unmountUnder,
  type NetnsHost, type NetnsLan, type NetnsLanOptions,
} from './netns.js';
export { ensureBuilt, CONTROLLER_JS } from './build.js';
export { sharedClusterKeyFile, startController, stopController, controllerInfo, type ControllerProc, type ControllerOptions, type ControllerInfo } from './controller.js';
export {
  clusterSkipReason, liveTasks, sleepMs, startCluster, step, ClusterRecorder,
  type ClusterController, type ClusterHost, type ClusterOptions, type HostContainer, type Recorded, type TestCluster,
} from './cluster.js';
export { startProc, startNode, stopProc, tail, type Proc } from './proc.js';
export { adminEnv, clusterKeyFile, joinToken, readAdminConfig, trustCluster, trustedAdmin, type AdminCredentials } from './tls.js';
