/**
 * The control plane end to end: real etcd (test harness or the controller's embedded one)
 * and the real `dist/shoal-controller.js` process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, statSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStore } from '../../pkg/store/index.js';
import { etcdAvailable, freePort, startEtcd, type TestEtcd } from './harness/etcd.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'dist/shoal-controller.js');
const hasEtcd = etcdAvailable();
if (!hasEtcd) console.warn('controller e2e skipped: the `etcd` binary is not installed (apt-get install etcd-server)');

/** Newest mtime of the sources the controller bundle is built from. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function buildIfStale(): void {
  let built = 0;
  try {
    built = statSync(BIN).mtimeMs;
  } catch {
    // not built yet
  }
  const newest = Math.max(newestSource(join(ROOT, 'pkg')), newestSource(join(ROOT, 'cmd')));
  if (built >= newest) return;
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
}

export interface ControllerProc {
  child: ChildProcess;
  url: string;
  dataDir: string;
  logPath: string;
  exited: Promise<number | null>;
}

async function startController(opts: { etcd?: string[]; dataDir: string; port?: number; args?: string[] }): Promise<ControllerProc> {
  const port = opts.port ?? (await freePort());
  const args = [BIN, '--listen', `127.0.0.1:${port}`, '--data-dir', opts.dataDir, '--node-timeout', '2s', '--leader-lease', '2s', ...(opts.args ?? [])];
  if (opts.etcd) args.push('--etcd', opts.etcd.join(','));
  const logPath = join(opts.dataDir, `controller-${port}-${Date.now()}.log`);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(opts.dataDir, { recursive: true });
  const log = createWriteStream(logPath);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_LOG_LEVEL: 'debug' } });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, url: `http://127.0.0.1:${port}`, dataDir: opts.dataDir, logPath, exited };
}

async function stopController(c: ControllerProc, signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<number | null> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return c.child.exitCode;
  c.child.kill(signal);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), ms);
  const code = await c.exited;
  clearTimeout(timer);
  return code;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasEtcd)('shoal-controller process', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(() => buildIfStale());
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('rejects bad flags with exit code 2 and a message naming the flag', () => {
    const r = spawnSync(process.execPath, [BIN, '--cluster-cidr', '10.0.0.0/99'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cluster-cidr');
  });

  it('runs an embedded etcd under its data dir, keeps data across SIGKILL, and stops etcd on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-ctl-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const c1 = await startController({ dataDir });
    cleanups.push(() => stopController(c1));
    const endpointFile = join(dataDir, 'etcd', 'endpoint');
    const endpoint = await until('embedded etcd endpoint', async () => (await readFile(endpointFile, 'utf8')).trim() || undefined);
    const etcdPid = await until('embedded etcd pid', async () => Number((await readFile(join(dataDir, 'etcd', 'etcd.pid'), 'utf8')).trim()) || undefined);
    const store = new EtcdStore({ endpoints: [endpoint] });
    cleanups.push(() => store.close());
    const kv = await until('embedded etcd to take writes', () => store.put('/shoal/v1/e2e/marker', '{"a":1}'));

    // SIGKILL leaves etcd orphaned; the next controller must reap it and reuse the data dir and port.
    await stopController(c1, 'SIGKILL');
    const c2 = await startController({ dataDir });
    cleanups.push(() => stopController(c2));
    await until('orphaned etcd reaped', () => Promise.resolve(!alive(etcdPid)));
    expect((await readFile(endpointFile, 'utf8')).trim()).toBe(endpoint);
    const again = await until('data after restart', () => store.get('/shoal/v1/e2e/marker'));
    expect(again).toEqual(kv);

    const pid2 = await until('new etcd pid', async () => {
      const p = Number((await readFile(join(dataDir, 'etcd', 'etcd.pid'), 'utf8')).trim());
      return p !== etcdPid && alive(p) ? p : undefined;
    });
    expect(await stopController(c2)).toBe(0);
    expect(alive(pid2)).toBe(false);
  });
});

describe.skipIf(!hasEtcd)('shoal-controller on an external etcd', () => {
  let etcd: TestEtcd;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    buildIfStale();
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('uses --etcd instead of starting its own and exits 0 on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-ctl-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const c = await startController({ dataDir, etcd: etcd.endpoints });
    cleanups.push(() => stopController(c));
    await until('controller to connect', async () => (await readFile(c.logPath, 'utf8')).includes('using etcd'));
    await expect(readFile(join(dataDir, 'etcd', 'endpoint'), 'utf8')).rejects.toThrow();
    expect(await stopController(c)).toBe(0);
  });
});
