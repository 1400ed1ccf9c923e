/**
 * The bundles the e2e tests run (dist/shoal-agent.js, shoalctl.js, shoal-controller.js), built
 * with scripts/build.mjs when one is missing or older than a source under pkg/ or cmd/. `make
 * test` builds before the tests run, so this matters when a test file is run on its own.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_JS, CTL_JS, REPO_ROOT } from './agent.js';

export const CONTROLLER_JS = join(REPO_ROOT, 'dist/shoal-controller.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

export function ensureBuilt(): void {
  const oldest = Math.min(...[AGENT_JS, CTL_JS, CONTROLLER_JS].map(mtime));
  if (oldest >= Math.max(newestSource(join(REPO_ROOT, 'pkg')), newestSource(join(REPO_ROOT, 'cmd')))) return;
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO_ROOT, stdio: 'pipe' });
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr.toString()}`);
}
