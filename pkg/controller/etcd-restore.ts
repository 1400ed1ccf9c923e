/**
 * `shoal-controller --restore SNAPSHOT`: the embedded etcd starts from a snapshot taken by
 * `shoalctl cluster backup` (or `etcdctl snapshot save`). Before etcd first starts,
 * `etcdctl snapshot restore` (Debian's etcd-client) checks the snapshot's sha256 and writes a
 * new one-member cluster into `<dir>/data.restoring`, which is then renamed to `<dir>/data`:
 * a crash half-way leaves no etcd that looks whole, and the next attempt starts afresh.
 *
 * Refused (FailedPrecondition) when `<dir>/data` already holds an etcd member: a restore
 * never overwrites a cluster's state; restore into a new --data-dir, or move the old away.
 * Keys keep their revisions from the snapshot, so resourceVersions go back to what they were
 * then; agents relist after the controller's restart and take the restored objects as they are.
 */
import { spawn } from 'node:child_process';
import { access, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../api/index.js';

export interface EtcdRestoreOptions {
  /** The snapshot file. */
  snapshot: string;
  /** The embedded etcd's directory (`<data-dir>/etcd`); the member goes to `<dir>/data`. */
  dir: string;
  /** Member name and peer URL the supervisor will start etcd with. */
  name: string;
  peerUrl: string;
  /** Default `etcdctl` from PATH. */
  etcdctl?: string;
}

/** etcdctl's arguments for a restore into `target` (pure). */
export function etcdRestoreArgs(o: EtcdRestoreOptions, target: string): string[] {
  return [
    'snapshot', 'restore', o.snapshot,
    `--name=${o.name}`,
    `--data-dir=${target}`,
    `--initial-cluster=${o.name}=${o.peerUrl}`,
    `--initial-advertise-peer-urls=${o.peerUrl}`,
    '--initial-cluster-token=shoal-embedded-restored',
  ];
}

/** FailedPrecondition when `<dir>/data` holds an etcd member already. */
export async function refuseExistingEtcd(dir: string): Promise<void> {
  const member = join(dir, 'data', 'member');
  if (await exists(member)) {
    throw new ShoalError('FailedPrecondition', `--restore: ${dir} already holds an etcd (${member}); restore into a new --data-dir, or move this one away first`);
  }
}

export async function restoreEmbeddedEtcd(o: EtcdRestoreOptions): Promise<void> {
  await refuseExistingEtcd(o.dir);
  let info;
  try {
    info = await stat(o.snapshot);
  } catch (err) {
    throw new ShoalError('InvalidArgument', `--restore: cannot read the snapshot ${o.snapshot}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!info.isFile()) throw new ShoalError('InvalidArgument', `--restore: ${o.snapshot} is not a file`);
  const target = join(o.dir, 'data.restoring');
  await rm(target, { recursive: true, force: true });
  try {
    await runEtcdctl(o.etcdctl ?? 'etcdctl', etcdRestoreArgs(o, target));
  } catch (err) {
    await rm(target, { recursive: true, force: true });
    throw err;
  }
  await rmdir(join(o.dir, 'data')).catch((err: unknown) => {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  });
  await rename(target, join(o.dir, 'data'));
}

function runEtcdctl(binary: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (err) => reject(new ShoalError('FailedPrecondition', `--restore: cannot run ${binary} (install Debian's etcd-client): ${err.message}`, { cause: err })));
    child.once('close', (code) => {
      if (code === 0) return resolve();
      const last = out.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? `exit code ${code ?? '?'}`;
      const why = /expected sha256/.test(last) ? 'the file does not match its sha256 checksum (damaged, or not an etcd snapshot)' : last.replace(/^Error: /, '');
      reject(new ShoalError('InvalidArgument', `--restore: etcdctl snapshot restore failed: ${why}`));
    });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
