/** Which cgroup hierarchy the host runs, and the matching manager. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupManager, CgroupManagerOptions, CgroupVersion } from './types.js';
import { CgroupV1Manager } from './v1.js';
import { CgroupV2Manager } from './v2.js';

/**
 * Pure v2 when `cgroup.controllers` exists at the root itself. A hybrid host (v1 controllers
 * plus an empty v2 mount at `unified`) counts as v1: the controllers are on the v1 side.
 */
export function detectCgroups(root = '/sys/fs/cgroup'): CgroupVersion {
  return existsSync(join(root, 'cgroup.controllers')) ? 2 : 1;
}

export function createCgroupManager(opts: CgroupManagerOptions = {}): CgroupManager {
  const version = detectCgroups(opts.root);
  return version === 2 ? new CgroupV2Manager(opts) : new CgroupV1Manager(opts);
}
