/** Merging a run request with the image config, as Docker does. Pure. */
import { ShoalError } from '../../api/index.js';
import type { ImageRuntimeConfig } from '../../api/index.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface MergeInput {
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  stopSignal?: string;
  labels?: Record<string, string>;
}

export interface Merged {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  stopSignal: string;
  labels: Record<string, string>;
}

/**
 * Entrypoint: the user's if given (and then the image Cmd is dropped), else the image's.
 * Cmd: the user's if non-empty, else the image's. Env: image env, user env overriding by key,
 * PATH defaulted. WorkingDir `/` by default.
 */
export function mergeConfig(image: ImageRuntimeConfig, req: MergeInput): Merged {
  const entrypoint = req.entrypoint !== undefined ? req.entrypoint : (image.Entrypoint ?? []);
  const cmd = req.cmd && req.cmd.length > 0 ? req.cmd : req.entrypoint !== undefined ? [] : (image.Cmd ?? []);
  if (entrypoint.length + cmd.length === 0) {
    throw new ShoalError('Invalid', 'no command specified: the image has no Entrypoint or Cmd and none was given', {
      causes: [{ field: 'cmd', reason: 'FieldValueRequired', message: 'no command specified' }],
    });
  }
  const workingDir = req.workingDir || image.WorkingDir || '/';
  if (!workingDir.startsWith('/')) {
    throw new ShoalError('Invalid', `working directory ${JSON.stringify(workingDir)} is not an absolute path`, {
      causes: [{ field: 'workingDir', reason: 'FieldValueInvalid', message: 'must be absolute' }],
    });
  }
  return {
    entrypoint,
    cmd,
    env: mergeEnv(image.Env ?? [], req.env ?? []),
    workingDir,
    user: req.user || image.User || '',
    stopSignal: req.stopSignal || image.StopSignal || 'SIGTERM',
    labels: { ...(image.Labels ?? {}), ...(req.labels ?? {}) },
  };
}

export function mergeEnv(base: string[], overrides: string[]): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const kv of [...base, ...overrides]) {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (!key) continue;
    if (!values.has(key)) order.push(key);
    values.set(key, kv);
  }
  if (!values.has('PATH')) {
    order.unshift('PATH');
    values.set('PATH', DEFAULT_PATH);
  }
  return order.map((k) => values.get(k)!);
}

/** Adds `KEY=value` only when the key is absent. */
export function envDefault(env: string[], key: string, value: string): string[] {
  return env.some((e) => e === key || e.startsWith(`${key}=`)) ? env : [...env, `${key}=${value}`];
}
