/**
 * The e2e tests' side of the cluster's security (issue 13). A test's controllers share one
 * cluster key (`clusterKeyFile`), so every controller of the test opens the same CA; once the
 * first controller has written its `<data-dir>/admin.config`, `trustCluster` installs its CA
 * and admin certificate as the process's fetch dispatcher (each test file is its own worker),
 * so plain `fetch(https://controller/...)` in a test is an admin's request, and `shoalctl`
 * gets the file through $SHOAL_CONFIG (`adminEnv`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, setGlobalDispatcher } from 'undici';
import { parse } from 'yaml';
import { until } from './wait.js';

export interface AdminCredentials {
  /** `<data-dir>/admin.config` of the controller that wrote it. */
  configPath: string;
  ca: string;
  cert: string;
  key: string;
}

let trusted: AdminCredentials | undefined;

/** A fresh cluster key in `dir`, for `--cluster-key-file` of every controller of one test. */
export async function clusterKeyFile(dir: string): Promise<string> {
  const path = join(dir, 'cluster.key');
  await writeFile(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  return path;
}

export function readAdminConfig(path: string): AdminCredentials {
  const doc = parse(readFileSync(path, 'utf8')) as { contexts: { certificateAuthority: string; clientCertificate: string; clientKey: string }[] };
  const c = doc.contexts[0];
  if (!c) throw new Error(`${path} holds no context`);
  return { configPath: path, ca: c.certificateAuthority, cert: c.clientCertificate, key: c.clientKey };
}

/** Waits for `<dataDir>/admin.config` and makes its CA and admin certificate this process's fetch credentials. */
export async function trustCluster(dataDir: string, alive: () => boolean = () => true, ms = 30_000): Promise<AdminCredentials> {
  const path = join(dataDir, 'admin.config');
  await until(`${path} to be written`, async () => {
    if (!alive()) throw new Error(`the controller exited before writing ${path}`);
    return existsSync(path);
  }, ms, 50);
  const creds = readAdminConfig(path);
  if (trusted?.ca !== creds.ca || trusted.cert !== creds.cert) {
    setGlobalDispatcher(new Agent({ connect: { ca: creds.ca, cert: creds.cert, key: creds.key } }));
    trusted = creds;
  }
  return creds;
}

/** The admin credentials this process trusts now (after `trustCluster`). */
export function trustedAdmin(): AdminCredentials {
  if (!trusted) throw new Error('trustCluster has not run');
  return trusted;
}

/** Environment for shoalctl as the admin of the trusted cluster. */
export function adminEnv(): Record<string, string> {
  return { SHOAL_CONFIG: trustedAdmin().configPath };
}

/** The worker join token, read as admin from `server`. */
export async function joinToken(server: string): Promise<string> {
  const r = await fetch(`${server}/apis/shoal/v1/cluster/join-tokens/worker`, { signal: AbortSignal.timeout(5000) });
  const body = (await r.json()) as { token?: string };
  if (!r.ok || typeof body.token !== 'string') throw new Error(`join token: ${r.status} ${JSON.stringify(body)}`);
  return body.token;
}
