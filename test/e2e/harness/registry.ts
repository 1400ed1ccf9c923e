/**
 * Starts Debian's `docker-registry` (distribution 2.8) on a free port (loopback unless
 * `bindAddress` names another local address) with filesystem storage in a temp dir,
 * optionally behind htpasswd basic auth. stop() kills it and removes the dir. The storage
 * root is exposed so tests can corrupt blobs on purpose.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freeLoopbackPort } from './ports.js';
import { TempDirs } from './tmp.js';
import { until } from './wait.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export function registryAvailable(): boolean {
  return spawnSync(REGISTRY_BIN, ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface TestRegistry {
  /** `ADDRESS:PORT` (`127.0.0.1:PORT` by default), to put in image references. */
  host: string;
  url: string;
  /** Filesystem storage root (`docker/registry/v2/...` under it). */
  storage: string;
  /** Path of a blob's data file in the storage. */
  blobPath(digest: string): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  auth?: { user: string; password: string };
  /** Local address to listen on (default 127.0.0.1), e.g. a host-side bridge that netns hosts reach. */
  bindAddress?: string;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const tmp = new TempDirs();
  const dir = await tmp.make('shoal-registry-');
  const port = await freeLoopbackPort();
  const bind = opts.bindAddress ?? '127.0.0.1';
  const storage = join(dir, 'storage');
  let auth = '';
  if (opts.auth) {
    const r = spawnSync('htpasswd', ['-Bbn', opts.auth.user, opts.auth.password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    await writeFile(join(dir, 'htpasswd'), r.stdout);
    auth = `auth:\n  htpasswd:\n    realm: shoal-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${bind}:${port}`,
    auth,
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), config);
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://${bind}:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    await tmp.cleanup();
  };
  try {
    // Answering, or exited: either ends the wait.
    const started = async (): Promise<'answering' | 'exited' | undefined> => {
      if (child.exitCode !== null) return 'exited';
      const ok = await fetch(`${url}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
      return ok ? 'answering' : undefined;
    };
    const state = await until(`docker-registry to answer on ${url}`, started, 15_000, 100).catch(() => {
      throw new Error(`docker-registry did not answer on ${url}: ${stderr}`);
    });
    if (state === 'exited') throw new Error(`docker-registry exited at start: ${stderr}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host: `${bind}:${port}`,
    url,
    storage,
    blobPath: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    stop,
  };
}
