export * from './types.js';
export { ContainerManager, type ContainerManagerOptions } from './manager.js';
export { parseMemory, parseCpus, parseSignal } from './units.js';
export * from './defaults.js';
export { hostsEntry, parseResolvConf, resolvConfFile, type ResolvConfLines } from './etc-files.js';
export { FakeDriver } from './fake-driver.js';
export { resolveImageUser, type ResolvedUser } from './user.js';
export type { ExitInfo, TerminalSession } from './terminals.js';
