/**
 * Starts a real `etcd` for tests on free loopback ports. Usable by any test:
 *
 *   const etcd = await startEtcd();      // etcd.endpoints = ['http://127.0.0.1:PORT']
 *   ...
 *   await etcd.stop();                   // SIGTERM, removes its temp data dir
 *
 * `kill()` SIGKILLs it (data kept); `start()` starts it again on the same ports and data dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdOptions {
  /** Data directory; default a fresh temp dir, removed by stop(). */
  dataDir?: string;
  clientPort?: number;
  peerPort?: number;
  /** Extra etcd flags. */
  args?: string[];
}

export interface TestEtcd {
  endpoints: string[];
  clientUrl: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** The child's pid (changes after start()). */
  readonly pid: number | undefined;
  /** SIGKILL (data dir kept). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data dir after kill(). */
  start(): Promise<void>;
  /** SIGTERM, wait, and remove the data dir when it was a temp dir. */
  stop(): Promise<void>;
}

export function etcdAvailable(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitHealthy(clientUrl: string, timeoutMs = 20_000, child?: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    if (child && child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode} before becoming healthy`);
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
      last = JSON.stringify(body);
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${clientUrl} not healthy after ${timeoutMs} ms: ${last}`);
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<TestEtcd> {
  const ownDir = opts.dataDir === undefined;
  const base = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'shoal-etcd-')));
  const dataDir = ownDir ? join(base, 'data') : base;
  const clientPort = opts.clientPort ?? (await freePort());
  let peerPort = opts.peerPort ?? (await freePort());
  while (peerPort === clientPort) peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const name = `shoal-test-${clientPort}`;
  const args = [
    `--name=${name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${name}=${peerUrl}`,
    '--logger=zap',
    '--log-outputs=stderr',
    '--max-txn-ops=10000',
    '--max-request-bytes=10485760',
    ...(opts.args ?? []),
  ];
  let child: ChildProcess | undefined;
  const logPath = join(ownDir ? base : tmpdir(), `etcd-${clientPort}.log`);

  const launch = async (): Promise<void> => {
    const log = createWriteStream(logPath, { flags: 'a' });
    const c = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.pipe(log);
    c.stderr?.pipe(log);
    child = c;
    try {
      await waitHealthy(clientUrl, 20_000, c);
    } catch (err) {
      c.kill('SIGKILL');
      throw new Error(`${String(err)} (log: ${logPath})`);
    }
  };

  const waitExit = (c: ChildProcess, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve(true);
      const t = setTimeout(() => resolve(false), ms);
      c.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });

  await launch();
  return {
    endpoints: [clientUrl],
    clientUrl,
    dataDir,
    clientPort,
    peerPort,
    get pid() {
      return child?.pid;
    },
    async kill() {
      const c = child;
      if (!c) return;
      c.kill('SIGKILL');
      await waitExit(c, 5000);
    },
    async start() {
      await launch();
    },
    async stop() {
      const c = child;
      if (c) {
        c.kill('SIGTERM');
        if (!(await waitExit(c, 5000))) {
          c.kill('SIGKILL');
          await waitExit(c, 5000);
        }
      }
      if (ownDir) await rm(base, { recursive: true, force: true });
    },
  };
}
