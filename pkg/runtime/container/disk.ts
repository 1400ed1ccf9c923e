/** Atomic JSON files for container state (the shared crash-safe writer). */
export { readJsonFile as readJson, writeJsonAtomic } from '../../util/index.js';
