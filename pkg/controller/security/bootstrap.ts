/**
 * What a controller does with its data dir for the cluster's security (issue 13): the cluster
 * key (made on the first start, mode 0600, or read from --cluster-key-file), the names and
 * addresses its serving certificate covers, and `<data-dir>/admin.config`, a shoalctl contexts
 * file with the CA and an admin client certificate (DESIGN.md sections 8 and 9).
 */
import { readFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { errors } from '../../api/index.js';
import { KEY_BYTES, newKey } from '../../pki/index.js';
import { writeFileAtomic } from '../../util/index.js';
import type { ClusterSecurity } from './cluster-security.js';

export const CLUSTER_KEY_FILE = 'cluster.key';
export const ADMIN_CONFIG_FILE = 'admin.config';

function decodeKey(text: string, path: string): Buffer {
  const k = Buffer.from(text.trim(), 'base64');
  if (k.length !== KEY_BYTES) throw errors.invalidArgument(`${path} does not hold a cluster key (want ${KEY_BYTES} bytes in base64, found ${k.length} bytes)`);
  return k;
}

/** The cluster key: from `file` when given, else `<dataDir>/cluster.key`, made if absent. */
export async function loadClusterKey(dataDir: string, file: string | undefined): Promise<{ key: Buffer; path: string; created: boolean }> {
  const path = file ?? join(dataDir, CLUSTER_KEY_FILE);
  try {
    return { key: decodeKey(await readFile(path, 'utf8'), path), path, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (file !== undefined) throw errors.invalidArgument(`--cluster-key-file ${file} does not exist`);
  }
  const key = newKey();
  await writeFileAtomic(path, `${key.toString('base64')}\n`, 0o600);
  return { key, path, created: true };
}

/** Names and addresses for the serving certificate: the listen host, this host's names and every local address. */
export function controllerHosts(listenHost: string, extra: string[] = []): string[] {
  const hosts = new Set<string>(['localhost', '127.0.0.1', '::1', hostname(), ...extra]);
  if (listenHost !== '0.0.0.0' && listenHost !== '::' && listenHost !== '') hosts.add(listenHost);
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) hosts.add(a.address.replace(/%.*$/, ''));
  return [...hosts].filter((h) => h !== '');
}

/** The URL written into admin.config: the listen address, or loopback when listening everywhere. */
export function adminServerUrl(listenHost: string, port: number): string {
  const host = listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '' ? '127.0.0.1' : listenHost;
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Writes `<dataDir>/admin.config` (mode 0600) unless it is there; returns its path and whether it was written. */
export async function writeAdminConfig(dataDir: string, security: ClusterSecurity, server: string): Promise<{ path: string; written: boolean }> {
  const path = join(dataDir, ADMIN_CONFIG_FILE);
  try {
    await readFile(path);
    return { path, written: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const admin = await security.adminCertificate('admin');
  const name = `admin@shoal-${security.caFingerprint.slice(0, 8)}`;
  const doc = {
    currentContext: name,
    contexts: [{ name, server, certificateAuthority: security.ca.certPem, clientCertificate: admin.certPem, clientKey: admin.keyPem }],
  };
  await writeFileAtomic(path, stringify(doc), 0o600);
  return { path, written: true };
}
