import { spawnSync } from 'node:child_process';
import { mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotChecksum } from '../client/index.js';
import { EtcdStore } from '../store/index.js';
import { etcdRestoreArgs } from './etcd-restore.js';
import { EtcdSupervisor } from './etcd-supervisor.js';

const hasEtcd = spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0 && spawnSync('etcdctl', ['version'], { stdio: 'ignore' }).status === 0;
if (!hasEtcd) console.warn('etcd restore tests skipped: etcd or etcdctl is not installed (etcd-server, etcd-client)');

describe('etcdRestoreArgs', () => {
  it('restores a one-member cluster named and addressed as the supervisor will start it', () => {
    expect(etcdRestoreArgs({ snapshot: '/b/s.db', dir: '/d/etcd', name: 'shoal-embedded', peerUrl: 'http://127.0.0.1:2380' }, '/d/etcd/data.restoring')).toEqual([
      'snapshot', 'restore', '/b/s.db', '--name=shoal-embedded', '--data-dir=/d/etcd/data.restoring',
      '--initial-cluster=shoal-embedded=http://127.0.0.1:2380', '--initial-advertise-peer-urls=http://127.0.0.1:2380', '--initial-cluster-token=shoal-embedded-restored',
    ]);
  });
});

describe.skipIf(!hasEtcd)('EtcdSupervisor with restoreFrom', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const tempDir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'shoal-restore-'));
    cleanups.push(() => rm(d, { recursive: true, force: true }));
    return d;
  };

  it('restores a snapshot taken through the store: same keys, same revisions', async () => {
    const a = await tempDir();
    const sup = await EtcdSupervisor.start({ dir: join(a, 'etcd') });
    cleanups.push(() => sup.stop());
    const store = new EtcdStore({ endpoints: sup.endpoints, tls: sup.tls });
    cleanups.push(() => store.close());
    for (let i = 0; i < 20; i++) await store.put(`/shoal/v1/things/${i}`, JSON.stringify({ i }));
    const before = await store.list('/shoal/v1/things/');
    const file = join(a, 'backup.db');
    const fh = await open(file, 'w');
    const sum = new SnapshotChecksum();
    for await (const chunk of store.snapshot(new AbortController().signal)) {
      sum.update(chunk);
      await fh.write(chunk);
    }
    await fh.close();
    sum.verify();
    await store.put('/shoal/v1/things/after', 'not in the backup');

    const b = await tempDir();
    const restored = await EtcdSupervisor.start({ dir: join(b, 'etcd'), restoreFrom: file });
    cleanups.push(() => restored.stop());
    const rs = new EtcdStore({ endpoints: restored.endpoints, tls: restored.tls });
    cleanups.push(() => rs.close());
    const after = await rs.list('/shoal/v1/things/');
    expect(after.items).toEqual(before.items);
    expect(after.revision).toBeGreaterThanOrEqual(before.revision);
    await rs.put('/shoal/v1/things/new', 'x');

    // A second --restore on the same dir is refused; so is one into the first cluster's dir.
    await restored.stop();
    await expect(EtcdSupervisor.start({ dir: join(b, 'etcd'), restoreFrom: file })).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringMatching(/already holds an etcd/) as unknown });
    await expect(EtcdSupervisor.start({ dir: join(a, 'etcd'), restoreFrom: file })).rejects.toMatchObject({ code: 'FailedPrecondition' });
  }, 60_000);

  it('refuses a damaged or missing snapshot with etcdctl\'s reason, leaving nothing that looks like an etcd', async () => {
    const d = await tempDir();
    const bad = join(d, 'bad.db');
    await writeFile(bad, Buffer.alloc(4096 + 32, 3));
    await expect(EtcdSupervisor.start({ dir: join(d, 'etcd'), restoreFrom: bad })).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/etcdctl snapshot restore failed: the file does not match its sha256 checksum/) as unknown });
    await expect(EtcdSupervisor.start({ dir: join(d, 'etcd2'), restoreFrom: join(d, 'missing.db') })).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/cannot read the snapshot/) as unknown });
    // Nothing half-restored: a plain start on the dir makes a fresh etcd.
    await expect(readdir(join(d, 'etcd'))).resolves.not.toContain('data.restoring');
    const sup = await EtcdSupervisor.start({ dir: join(d, 'etcd') });
    cleanups.push(() => sup.stop());
    const s = new EtcdStore({ endpoints: sup.endpoints, tls: sup.tls });
    cleanups.push(() => s.close());
    expect((await s.list('/')).items).toEqual([]);
  }, 60_000);
});
