/**
 * Certificates of the embedded etcd (issue 13): a CA of its own (not the cluster's, which
 * lives *in* etcd), a server certificate for 127.0.0.1 and one client certificate, made on the
 * first start under `<data-dir>/etcd/pki/` (keys 0600). etcd runs with
 * `--client-cert-auth`, so a local process without the client key can neither read nor
 * write the cluster state; the controller (and an admin with `etcdctl --cacert --cert --key`)
 * can.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCA, issueKeyPair } from '../pki/index.js';
import type { EtcdTls } from '../store/index.js';
import { writeFileAtomic } from '../util/index.js';

export interface EtcdPkiFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export function etcdPkiFiles(dir: string): EtcdPkiFiles {
  const p = join(dir, 'pki');
  return { ca: join(p, 'ca.crt'), serverCert: join(p, 'server.crt'), serverKey: join(p, 'server.key'), clientCert: join(p, 'client.crt'), clientKey: join(p, 'client.key') };
}

async function readAll(f: EtcdPkiFiles): Promise<EtcdTls | undefined> {
  try {
    const [ca, cert, key] = await Promise.all([readFile(f.ca, 'utf8'), readFile(f.clientCert, 'utf8'), readFile(f.clientKey, 'utf8')]);
    await Promise.all([readFile(f.serverCert), readFile(f.serverKey)]);
    return { ca, cert, key };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The embedded etcd's certificates: those in `dir/pki`, or new ones (10 years). Returns the client's. */
export async function ensureEtcdPki(dir: string): Promise<EtcdTls> {
  const f = etcdPkiFiles(dir);
  const existing = await readAll(f);
  if (existing) return existing;
  await mkdir(join(dir, 'pki'), { recursive: true, mode: 0o700 });
  const ca = await createCA(new Date(), 10, 'shoal-embedded-etcd-ca');
  const ttlMs = 10 * 365 * 86_400_000;
  const server = await issueKeyPair({ ca, subject: { cn: 'shoal-embedded-etcd', o: 'shoal' }, ttlMs, usage: 'both', hosts: ['127.0.0.1', 'localhost'] });
  const client = await issueKeyPair({ ca, subject: { cn: 'shoal-controller', o: 'shoal' }, ttlMs, usage: 'client' });
  await writeFileAtomic(f.serverKey, server.keyPem, 0o600);
  await writeFileAtomic(f.serverCert, server.certPem, 0o644);
  await writeFileAtomic(f.clientKey, client.keyPem, 0o600);
  await writeFileAtomic(f.clientCert, client.certPem, 0o644);
  // The CA last: its presence says the set is complete. Its key is not kept: nothing else is ever signed.
  await writeFileAtomic(f.ca, ca.certPem, 0o644);
  return { ca: ca.certPem, cert: client.certPem, key: client.keyPem };
}
