/**
 * The shoalctl contexts file (YAML), `--config FILE`, else $SHOAL_CONFIG, else `~/.shoal/config`:
 *
 *   currentContext: admin@shoal-1a2b3c4d
 *   contexts:
 *     - name: admin@shoal-1a2b3c4d
 *       server: https://127.0.0.1:6443
 *       certificateAuthority: |        # PEM of the cluster CA
 *       clientCertificate: |           # PEM; with clientKey, or instead:
 *       clientKey: |
 *       token: shoal-...               # a bearer token (shoalctl token create)
 *
 * The controller URL is `--server`, else `$SHOAL_SERVER`, else the current context's server;
 * the credentials are the current context's ($SHOAL_TOKEN replaces its token).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { errors } from '../api/index.js';
import type { ClientCredentials } from '../client/index.js';
import { writeFileAtomic } from '../util/index.js';

export interface CtlContextEntry {
  name: string;
  server: string;
  certificateAuthority?: string;
  clientCertificate?: string;
  clientKey?: string;
  token?: string;
}

export interface CtlConfig {
  currentContext?: string;
  contexts: CtlContextEntry[];
}

/** Where the contexts file is: a home (its ~/.shoal/config) or an explicit file. */
export type ConfigWhere = string | { home: string; file?: string };

export function configPath(where: ConfigWhere): string {
  if (typeof where === 'string') return join(where, '.shoal', 'config');
  return where.file !== undefined && where.file !== '' ? where.file : join(where.home, '.shoal', 'config');
}

/** `--config` wins, then $SHOAL_CONFIG, then ~/.shoal/config. */
export function configWhere(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, home: string): ConfigWhere {
  const file = flag !== undefined && flag !== '' ? flag : env['SHOAL_CONFIG'];
  return file !== undefined && file !== '' ? { home, file } : { home };
}

const PEM_FIELDS = ['certificateAuthority', 'clientCertificate', 'clientKey', 'token'] as const;

export function parseConfigText(text: string, path: string): CtlConfig {
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
    const e = c as Record<string, unknown> | null;
    if (!e || typeof e['name'] !== 'string' || typeof e['server'] !== 'string') throw errors.invalidArgument(`${path}: contexts[${i}] needs a name and a server`);
    const entry: CtlContextEntry = { name: e['name'], server: e['server'] };
    for (const f of PEM_FIELDS) {
      const v = e[f];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') throw errors.invalidArgument(`${path}: contexts[${i}].${f} must be a string`);
      entry[f] = v;
    }
    if ((entry.clientCertificate === undefined) !== (entry.clientKey === undefined)) {
      throw errors.invalidArgument(`${path}: contexts[${i}] needs both clientCertificate and clientKey, or neither`);
    }
    contexts.push(entry);
  }
  const cfg: CtlConfig = { contexts };
  if (typeof r.currentContext === 'string') cfg.currentContext = r.currentContext;
  return cfg;
}

export async function loadConfig(where: ConfigWhere): Promise<CtlConfig> {
  const path = configPath(where);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: [] };
    throw errors.invalidArgument(`cannot read ${path}: ${(err as Error).message}`);
  }
  return parseConfigText(text, path);
}

/** Writes atomically (temp file + rename), mode 0600: it holds keys and tokens. */
export async function saveConfig(where: ConfigWhere, cfg: CtlConfig): Promise<void> {
  const path = configPath(where);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, stringify(cfg), 0o600);
}

export function normalizeServer(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw errors.invalidArgument(`invalid server URL "${url}": want e.g. https://127.0.0.1:6443`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw errors.invalidArgument(`invalid server URL "${url}": use https://`);
  return url.replace(/\/+$/, '');
}

export interface Target {
  server: string;
  credentials: ClientCredentials;
  /** The context the credentials came from, if any. */
  context?: string;
}

/** `--server` wins, then SHOAL_SERVER, then the current context; credentials from the current context (and $SHOAL_TOKEN). */
export async function resolveTarget(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, where: ConfigWhere): Promise<Target> {
  const cfg = await loadConfig(where);
  const cur = cfg.contexts.find((c) => c.name === cfg.currentContext);
  const credentials: ClientCredentials = {
    ...(cur?.certificateAuthority ? { ca: cur.certificateAuthority } : {}),
    ...(cur?.clientCertificate ? { cert: cur.clientCertificate } : {}),
    ...(cur?.clientKey ? { key: cur.clientKey } : {}),
    ...(cur?.token ? { token: cur.token } : {}),
  };
  const envToken = env['SHOAL_TOKEN'];
  if (envToken !== undefined && envToken !== '') {
    credentials.token = envToken;
    delete credentials.cert;
    delete credentials.key;
  }
  const ctxName = cur ? { context: cur.name } : {};
  if (flag !== undefined && flag !== '') return { server: normalizeServer(flag), credentials, ...ctxName };
  const fromEnv = env['SHOAL_SERVER'];
  if (fromEnv !== undefined && fromEnv !== '') return { server: normalizeServer(fromEnv), credentials, ...ctxName };
  if (!cur) {
    throw errors.invalidArgument(
      `no controller given: use --server URL, set SHOAL_SERVER, or import the cluster's admin.config ("shoalctl context import FILE")`,
    );
  }
  return { server: normalizeServer(cur.server), credentials, context: cur.name };
}

/** The controller URL alone (older callers). */
export async function resolveServer(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, where: ConfigWhere): Promise<string> {
  return (await resolveTarget(flag, env, where)).server;
}
