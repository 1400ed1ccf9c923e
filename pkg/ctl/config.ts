/**
 * The shoalctl contexts file, `~/.shoal/config` (YAML):
 *
 *   currentContext: local
 *   contexts:
 *     - name: local
 *       server: http://127.0.0.1:6443
 *
 * The controller URL is `--server`, else `$SHOAL_SERVER`, else the current context's server.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { errors } from '../api/index.js';
import { writeFileAtomic } from '../util/index.js';

export interface CtlContextEntry {
  name: string;
  server: string;
}

export interface CtlConfig {
  currentContext?: string;
  contexts: CtlContextEntry[];
}

export function configPath(home: string): string {
  return join(home, '.shoal', 'config');
}

export async function loadConfig(home: string): Promise<CtlConfig> {
  const path = configPath(home);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: [] };
    throw errors.invalidArgument(`cannot read ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text, { maxAliasCount: 10 });
  } catch (err) {
    throw errors.invalidArgument(`${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (raw === null || raw === undefined) return { contexts: [] };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw errors.invalidArgument(`${path} must be a YAML mapping`);
  const r = raw as { currentContext?: unknown; contexts?: unknown };
  const contexts: CtlContextEntry[] = [];
  if (r.contexts !== undefined && !Array.isArray(r.contexts)) throw errors.invalidArgument(`${path}: contexts must be a list`);
  for (const [i, c] of ((r.contexts as unknown[] | undefined) ?? []).entries()) {
    const e = c as { name?: unknown; server?: unknown } | null;
    if (!e || typeof e.name !== 'string' || typeof e.server !== 'string') throw errors.invalidArgument(`${path}: contexts[${i}] needs a name and a server`);
    contexts.push({ name: e.name, server: e.server });
  }
  const cfg: CtlConfig = { contexts };
  if (typeof r.currentContext === 'string') cfg.currentContext = r.currentContext;
  return cfg;
}

/** Writes atomically (temp file + rename), mode 0600. */
export async function saveConfig(home: string, cfg: CtlConfig): Promise<void> {
  const path = configPath(home);
  await mkdir(join(home, '.shoal'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, stringify(cfg), 0o600);
}

export function normalizeServer(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw errors.invalidArgument(`invalid server URL "${url}": want e.g. http://127.0.0.1:6443`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw errors.invalidArgument(`invalid server URL "${url}": use http:// or https://`);
  return url.replace(/\/+$/, '');
}

/** `--server` wins, then SHOAL_SERVER, then the current context. */
export async function resolveServer(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, home: string): Promise<string> {
  if (flag !== undefined && flag !== '') return normalizeServer(flag);
  const fromEnv = env['SHOAL_SERVER'];
  if (fromEnv !== undefined && fromEnv !== '') return normalizeServer(fromEnv);
  const cfg = await loadConfig(home);
  const cur = cfg.contexts.find((c) => c.name === cfg.currentContext);
  if (!cur) {
    throw errors.invalidArgument(
      `no controller given: use --server URL, set SHOAL_SERVER, or run "shoalctl config set-context NAME --server URL" then "shoalctl config use-context NAME"`,
    );
  }
  return normalizeServer(cur.server);
}
