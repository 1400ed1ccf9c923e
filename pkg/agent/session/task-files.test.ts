import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION, type Task } from '../../api/index.js';
import { TmpfsTaskFiles } from './task-files.js';

const task = (name: string, secrets: object[] = [], configs: object[] = []): Task => ({
  apiVersion: API_VERSION, kind: 'Task', metadata: { name, namespace: 'default' },
  spec: { serviceName: 'web', serviceGeneration: 1, desiredState: 'running', nodeName: 'n1', template: { spec: { containers: [{ name: 'm', image: 'busybox' }], secrets, configs } } } as Task['spec'],
  status: { state: 'assigned' },
});

let root: string;
let mounts: string[];
beforeEach(async () => {
  root = join(await mkdtemp(join(tmpdir(), 'task-files-')), 'files');
  mounts = [];
});
afterEach(async () => rm(join(root, '..'), { recursive: true, force: true }));

describe('TmpfsTaskFiles', () => {
  const values: Record<string, string> = { pw: Buffer.from('s3cret').toString('base64'), app: Buffer.from('key=1\n').toString('base64') };
  const files = (): TmpfsTaskFiles => new TmpfsTaskFiles(
    root,
    async (_kind, _t, name) => values[name] ?? '',
    async () => ({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }),
    async (dir) => void mounts.push(dir),
  );

  it('writes secrets 0400 and configs 0444 on its tmpfs, and binds them read-only where the task wants them', async () => {
    const f = files();
    const binds = await f.prepare(task('web.1.a', [{ source: 'pw' }, { source: 'pw', target: 'db', mode: 0o440 }], [{ source: 'app', target: '/etc/app.conf' }]), AbortSignal.timeout(5000));
    expect(mounts).toEqual([root]);
    expect(binds).toEqual([
      `${root}/web.1.a/secrets/0:/run/secrets/pw:ro`, `${root}/web.1.a/secrets/1:/run/secrets/db:ro`, `${root}/web.1.a/configs/0:/etc/app.conf:ro`,
    ]);
    expect(await readFile(join(root, 'web.1.a/secrets/0'), 'utf8')).toBe('s3cret');
    expect((await stat(join(root, 'web.1.a/secrets/0'))).mode & 0o777).toBe(0o400);
    expect((await stat(join(root, 'web.1.a/secrets/1'))).mode & 0o777).toBe(0o440);
    expect((await stat(join(root, 'web.1.a/configs/0'))).mode & 0o777).toBe(0o444);
    expect(await f.prepare(task('plain'), AbortSignal.timeout(5000))).toEqual([]);
  });

  it('releases a container\'s files, and sweeps those of containers that are gone', async () => {
    const f = files();
    await f.prepare(task('a.1.x', [{ source: 'pw' }]), AbortSignal.timeout(5000));
    await f.prepare(task('b.1.y', [{ source: 'pw' }]), AbortSignal.timeout(5000));
    await f.release('a.1.x');
    await f.release('../../etc');
    expect(await readdir(root)).toEqual(['b.1.y']);
    await f.sweep(new Set());
    expect(await readdir(root)).toEqual([]);
  });
});
