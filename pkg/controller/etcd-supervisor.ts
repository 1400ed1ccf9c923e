/**
 * The embedded etcd: when shoal-controller runs without --etcd it starts `etcd` as a child
 * under `<data-dir>/etcd` on 127.0.0.1, waits for /health, restarts it with backoff when it
 * dies, and stops it on shutdown (SIGTERM, then SIGKILL). The client URL is recorded in
 * `<data-dir>/etcd/endpoint` (the peer URL in `peer-endpoint`) so a restart of the
 * controller reuses the same ports. etcd's output goes to `<data-dir>/etcd/etcd.log`.
 *
 * Layout under `dir`:  data/ (etcd's member dir)  endpoint  peer-endpoint  etcd.log  pki/
 *
 * The client URL is https and etcd requires a client certificate (`--client-cert-auth`,
 * etcd-pki.ts): `tls` is the controller's. The peer URL stays plain http on 127.0.0.1 (one
 * member: there are no peers to talk to).
 *
 * With `restoreFrom`, a snapshot is restored into `data/` before etcd first starts
 * (etcd-restore.ts); refused when `data/` holds a member already.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ShoalError } from '../api/index.js';
import { backoffDelay, writeFileAtomic, type BackoffPolicy } from '../util/index.js';
import { refuseExistingEtcd, restoreEmbeddedEtcd } from './etcd-restore.js';
import { ensureEtcdPki, etcdPkiFiles } from './etcd-pki.js';
import type { EtcdTls } from '../store/index.js';
import { request as httpsRequest } from 'node:https';

export interface SupervisorLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface EtcdSupervisorOptions {
  /** Directory owned by the embedded etcd, e.g. `<data-dir>/etcd`. */
  dir: string;
  /** Client port; default: the recorded one, else a free one. */
  clientPort?: number;
  peerPort?: number;
  /** The etcd binary (default `etcd` from PATH). */
  binary?: string;
  logger?: SupervisorLogger;
  /** Delay before restart number `attempt` (default 500 ms doubling to 30 s). */
  backoff?: (attempt: number) => number;
  /** How long to wait for /health after each (re)start (default 30 s). */
  healthTimeoutMs?: number;
  /** Extra etcd flags. */
  extraArgs?: string[];
  /** A snapshot to restore before etcd first starts (`--restore`); the dir must hold no etcd yet. */
  restoreFrom?: string;
  /** The etcdctl binary for a restore (default `etcdctl` from PATH). */
  etcdctl?: string;
}

/** The embedded member's name (also what a restore names it). */
const MEMBER_NAME = 'shoal-embedded';

export type SupervisorState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped';

/** 500 ms doubling to 30 s, without jitter (one supervisor per data dir: nobody to desynchronise from). */
const RESTART_BACKOFF: BackoffPolicy = { minMs: 500, maxMs: 30_000, jitter: 0 };

const silent: SupervisorLogger = { info: () => {}, warn: () => {}, error: () => {} };

export class EtcdSupervisor {
  private child: ChildProcess | undefined;
  private stateValue: SupervisorState = 'starting';
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly logger: SupervisorLogger;
  private readonly backoff: (attempt: number) => number;

  private constructor(
    private readonly opts: EtcdSupervisorOptions,
    readonly clientUrl: string,
    readonly peerUrl: string,
    /** The client certificate the embedded etcd requires (and its CA). */
    readonly tls: EtcdTls,
  ) {
    this.logger = opts.logger ?? silent;
    this.backoff = opts.backoff ?? ((n) => backoffDelay(RESTART_BACKOFF, n));
  }

  /** Starts etcd and resolves once it is healthy. */
  static async start(opts: EtcdSupervisorOptions): Promise<EtcdSupervisor> {
    if (opts.restoreFrom !== undefined) await refuseExistingEtcd(opts.dir);
    await mkdir(join(opts.dir, 'data'), { recursive: true, mode: 0o700 });
    await reapOrphan(opts.dir, opts.logger ?? silent);
    const recordedClient = await readPort(join(opts.dir, 'endpoint'));
    const recordedPeer = await readPort(join(opts.dir, 'peer-endpoint'));
    const clientPort = opts.clientPort ?? ((recordedClient && (await portFree(recordedClient))) ? recordedClient : await freePort());
    let peerPort = opts.peerPort ?? ((recordedPeer && recordedPeer !== clientPort && (await portFree(recordedPeer))) ? recordedPeer : await freePort());
    while (peerPort === clientPort) peerPort = await freePort();
    const tls = await ensureEtcdPki(opts.dir);
    const sup = new EtcdSupervisor(opts, `https://127.0.0.1:${clientPort}`, `http://127.0.0.1:${peerPort}`, tls);
    await atomicWrite(join(opts.dir, 'endpoint'), sup.clientUrl + '\n');
    await atomicWrite(join(opts.dir, 'peer-endpoint'), sup.peerUrl + '\n');
    if (opts.restoreFrom !== undefined) {
      await restoreEmbeddedEtcd({ snapshot: opts.restoreFrom, dir: opts.dir, name: MEMBER_NAME, peerUrl: sup.peerUrl, ...(opts.etcdctl ? { etcdctl: opts.etcdctl } : {}) });
      (opts.logger ?? silent).info(`restored the embedded etcd from ${opts.restoreFrom}`);
    }
    try {
      await sup.launch();
    } catch (err) {
      await sup.stop();
      throw err;
    }
    return sup;
  }

  get state(): SupervisorState {
    return this.stateValue;
  }

  get endpoints(): string[] {
    return [this.clientUrl];
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How many times etcd has been restarted after dying. */
  get restartCount(): number {
    return this.restarts;
  }

  private args(): string[] {
    const name = MEMBER_NAME;
    return [
      `--name=${name}`,
      `--data-dir=${join(this.opts.dir, 'data')}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      '--client-cert-auth',
      `--trusted-ca-file=${etcdPkiFiles(this.opts.dir).ca}`,
      `--cert-file=${etcdPkiFiles(this.opts.dir).serverCert}`,
      `--key-file=${etcdPkiFiles(this.opts.dir).serverKey}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${name}=${this.peerUrl}`,
      '--logger=zap',
      '--log-outputs=stderr',
      // The scheduler commits hundreds of bindings per transaction.
      '--max-txn-ops=10000',
      '--max-request-bytes=10485760',
      '--auto-compaction-mode=revision',
      '--auto-compaction-retention=100000',
      ...(this.opts.extraArgs ?? []),
    ];
  }

  private async launch(): Promise<void> {
    const log = createWriteStream(join(this.opts.dir, 'etcd.log'), { flags: 'a' });
    const child = spawn(this.opts.binary ?? 'etcd', this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    if (child.pid !== undefined) await atomicWrite(join(this.opts.dir, 'etcd.pid'), `${child.pid}\n`);
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const spawnError = new Promise<never>((_, reject) => {
      child.once('error', (err) => {
        if (this.child === child) this.child = undefined;
        log.end();
        reject(new ShoalError('Unavailable', `cannot start etcd (${this.opts.binary ?? 'etcd'}): ${err.message}`, { cause: err }));
      });
    });
    spawnError.catch(() => {});
    child.once('exit', (code, signal) => {
      log.end();
      this.onExit(child, code, signal);
    });
    await Promise.race([this.waitHealthy(child), spawnError]);
    this.stateValue = 'running';
    this.logger.info(`embedded etcd running at ${this.clientUrl} (pid ${child.pid ?? '?'})`);
  }

  private async waitHealthy(child: ChildProcess): Promise<void> {
    const end = Date.now() + (this.opts.healthTimeoutMs ?? 30_000);
    let last = '';
    while (Date.now() < end) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new ShoalError('Unavailable', `embedded etcd exited (${child.exitCode ?? child.signalCode}) before becoming healthy; see ${join(this.opts.dir, 'etcd.log')}`);
      }
      if (this.child !== child) throw new ShoalError('Canceled', 'embedded etcd was stopped while starting');
      try {
        const body = (await this.health()) as { health?: string };
        if (body.health === 'true') return;
        last = JSON.stringify(body);
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new ShoalError('Unavailable', `embedded etcd at ${this.clientUrl} not healthy in time (${last}); see ${join(this.opts.dir, 'etcd.log')}`);
  }

  /** GET /health with the client certificate. */
  private health(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const r = httpsRequest(`${this.clientUrl}/health`, { ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key, signal: AbortSignal.timeout(1000) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d.length + text.length > 4096 ? '' : d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end();
    });
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (this.stateValue === 'stopping' || this.stateValue === 'stopped') return;
    const delay = this.backoff(this.restarts);
    this.restarts++;
    this.stateValue = 'restarting';
    this.logger.warn(`embedded etcd exited (code ${code ?? '-'}, signal ${signal ?? '-'}); restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stateValue !== 'restarting') return;
      this.launch().catch((err: unknown) => {
        this.logger.error(`embedded etcd restart failed: ${err instanceof Error ? err.message : String(err)}`);
        // A failed start ends in an exit, which schedules the next attempt; if it is still
        // running but unhealthy, kill it so that happens.
        this.child?.kill('SIGKILL');
      });
    }, delay);
  }

  /** Stops etcd: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.stateValue = 'stopping';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    await rm(join(this.opts.dir, 'etcd.pid'), { force: true });
    this.stateValue = 'stopped';
    this.logger.info('embedded etcd stopped');
  }
}

/**
 * A controller killed with SIGKILL leaves its etcd child running on our data dir (which
 * etcd locks). Its pid is in `etcd.pid`; if that process is still an etcd on this data
 * dir, stop it (SIGTERM, then SIGKILL) so we can start our own.
 */
async function reapOrphan(dir: string, logger: SupervisorLogger): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(join(dir, 'etcd.pid'), 'utf8')).trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline: string;
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return;
  }
  if (!cmdline.includes(`--data-dir=${join(dir, 'data')}`)) return;
  logger.warn(`stopping orphaned embedded etcd (pid ${pid}) left by a previous controller`);
  const gone = (): boolean => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50 && !gone(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!gone()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    for (let i = 0; i < 50 && !gone(); i++) await new Promise((r) => setTimeout(r, 100));
  }
}

async function readPort(path: string): Promise<number | undefined> {
  try {
    const url = new URL((await readFile(path, 'utf8')).trim());
    const port = Number(url.port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

function atomicWrite(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, text, 0o644);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
