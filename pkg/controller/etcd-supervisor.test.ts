import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startEtcd } from '../../test/e2e/harness/etcd.js';
import type { EtcdTls } from '../store/index.js';
import { EtcdSupervisor } from './etcd-supervisor.js';

const hasEtcd = spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasEtcd) console.warn('etcd-supervisor tests skipped: the `etcd` binary is not installed');

/** /health with the embedded etcd's client certificate (`tls`), or without any. */
async function healthy(url: string, tls?: EtcdTls): Promise<boolean> {
  const { Agent, fetch } = await import('undici');
  try {
    const dispatcher = new Agent({ connect: { ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}), rejectUnauthorized: tls !== undefined } });
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000), dispatcher });
    return ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('EtcdSupervisor', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('fails with Unavailable when the binary is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-sup-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await expect(EtcdSupervisor.start({ dir, binary: '/nonexistent/etcd' })).rejects.toMatchObject({ code: 'Unavailable' });
  });

  it.skipIf(!hasEtcd)('starts etcd, restarts it when it dies, reuses its endpoint and stops it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-sup-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const sup = await EtcdSupervisor.start({ dir, backoff: () => 100 });
    cleanups.push(() => sup.stop());
    expect(sup.state).toBe('running');
    expect((await readFile(join(dir, 'endpoint'), 'utf8')).trim()).toBe(sup.clientUrl);
    expect(await healthy(sup.clientUrl, sup.tls)).toBe(true);
    // Without the client certificate etcd answers nothing (issue 13).
    expect(sup.clientUrl).toMatch(/^https:/);
    expect(await healthy(sup.clientUrl)).toBe(false);

    const firstPid = sup.pid;
    process.kill(firstPid as number, 'SIGKILL');
    await vi.waitFor(async () => {
      expect(sup.state, 'etcd restarted').toBe('running');
      expect(sup.pid).not.toBe(firstPid);
      expect(await healthy(sup.clientUrl, sup.tls)).toBe(true);
    }, { timeout: 20_000, interval: 100 });
    expect(sup.restartCount).toBe(1);

    const pid = sup.pid;
    await sup.stop(5000);
    expect(sup.state).toBe('stopped');
    expect(alive(pid)).toBe(false);
    expect(await readFile(join(dir, 'etcd.log'), 'utf8')).toContain('etcd');

    const again = await EtcdSupervisor.start({ dir });
    cleanups.push(() => again.stop());
    expect(again.clientUrl).toBe(sup.clientUrl);
  });

  it.skipIf(!hasEtcd)('stops an etcd orphaned on its data dir by a killed controller before starting its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-sup-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const orphan = await startEtcd({ dataDir: join(dir, 'data') });
    cleanups.push(() => orphan.stop());
    await writeFile(join(dir, 'etcd.pid'), `${orphan.pid}\n`);
    const sup = await EtcdSupervisor.start({ dir });
    cleanups.push(() => sup.stop());
    expect(alive(orphan.pid)).toBe(false);
    expect(sup.pid).not.toBe(orphan.pid);
    expect(await healthy(sup.clientUrl, sup.tls)).toBe(true);
  });
});
