export * from './types.js';
export { ContainerManager, noopNetworkHook, type ContainerManagerOptions } from './manager.js';
export { parseBinds } from './spec.js';
export { parseMemory, parseCpus, parseSignal, nanoCpusToQuota, signalNumber } from './units.js';
export { mergeConfig, mergeEnv, DEFAULT_PATH } from './merge.js';
export { resolveUser, resolveImageUser, parsePasswd, parseGroup } from './user.js';
export { readLogs, parseLogLine, parseSince } from './logs.js';
export { humanDuration, statusText, toInspect, toSummary } from './inspect.js';
export { validateName, generateName, NAME_RE } from './names.js';
export * from './defaults.js';
export {
  hostnameFile, hostsEntry, hostsFile, parseResolvConf, resolvConfFile, writeEtcFiles,
  type EtcFilesInput, type HostsInput, type ResolvConfLines,
} from './etc-files.js';
export { FakeDriver } from './fake-driver.js';
