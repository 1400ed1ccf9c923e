/**
 * The agent's side of `shoal-runtime spawner` (native/runtime/spawner.c): one small helper
 * process, started once, forks the `start` launcher of each container, so the agent's own
 * process (100 MB and more) is never forked on the start path. A spawned launcher connects
 * back to a Unix socket we listen on (mode 0600, in the agent's run dir) twice, introducing
 * each connection with the request's random token: `<token> ctl` becomes the launcher's fd 3,
 * `<token> err` its stderr. Connections with any other first line are dropped.
 *
 * If the spawner cannot be started or dies, `launch` rejects and the driver falls back to
 * spawning the helper itself; the next launch tries a new spawner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { ShoalError } from '../../api/index.js';

/** Both sockets are paused: attach the readers, then `resume()`. */
export interface SpawnedHelper {
  /** fd 3 of the launcher: the control channel. */
  ctl: Socket;
  /** The launcher's stderr. */
  stderr: Socket;
}

interface Pending {
  ctl?: Socket;
  err?: Socket;
  resolve: (h: SpawnedHelper) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const TOKEN_RE = /^([0-9a-f]{32}) (ctl|err)$/;
/** Longest wait for a launcher's two connections. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Longest wait for a connection's first line. */
const HELLO_TIMEOUT_MS = 5_000;
/** Unix socket paths are limited to 107 bytes. */
export const MAX_SOCKET_PATH = 107;

export class HelperSpawner {
  private server: Server | undefined;
  private child: ChildProcess | undefined;
  private starting: Promise<void> | undefined;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  constructor(
    private readonly binaryPath: string,
    private readonly socketPath: string,
    private readonly onLog: (line: string) => void = () => undefined,
  ) {
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      throw new ShoalError('InvalidArgument', `spawner socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes`);
    }
  }

  /** Forks a launcher and resolves with its fd 3 and stderr once both are connected. */
  async launch(signal?: AbortSignal): Promise<SpawnedHelper> {
    if (this.closed) throw new ShoalError('Unavailable', 'the helper spawner is closed');
    await this.ensureStarted();
    const child = this.child;
    if (child?.stdin === null || child === undefined || child.exitCode !== null) throw new ShoalError('Unavailable', 'the helper spawner is not running');
    const token = randomBytes(16).toString('hex');
    return new Promise<SpawnedHelper>((resolve, reject) => {
      const onAbort = () => fail(new ShoalError('Canceled', 'container start canceled'));
      const fail = (e: Error) => {
        const p = this.pending.get(token);
        if (p === undefined) return;
        this.pending.delete(token);
        clearTimeout(p.timer);
        p.ctl?.destroy();
        p.err?.destroy();
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      };
      const timer = setTimeout(() => fail(new ShoalError('Unavailable', 'the helper spawner did not connect a launcher in time')), CONNECT_TIMEOUT_MS);
      timer.unref();
      this.pending.set(token, {
        timer,
        reject: fail,
        resolve: (h) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(h);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      child.stdin?.write(`start ${token}\n`);
    });
  }

  private ensureStarted(): Promise<void> {
    if (this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null && this.server !== undefined) return Promise.resolve();
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async start(): Promise<void> {
    if (this.server === undefined) {
      await mkdir(dirname(this.socketPath), { recursive: true });
      await rm(this.socketPath, { force: true });
      const server = createServer((s) => this.accept(s));
      server.on('error', (err) => this.onLog(`spawner socket: ${err.message}`));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
      await chmod(this.socketPath, 0o600);
      server.unref();
      this.server = server;
    }
    const child = spawn(this.binaryPath, ['spawner', this.socketPath], { stdio: ['pipe', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new ShoalError('Unavailable', `start the helper spawner: ${err.message}`)));
    });
    child.stdin?.on('error', () => undefined);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      for (const l of d.split('\n')) if (l.trim() !== '') this.onLog(l.trim());
    });
    child.once('exit', (code, sig) => {
      if (this.child === child) this.child = undefined;
      const why = new ShoalError('Unavailable', `the helper spawner exited (${sig ?? code})`);
      for (const p of [...this.pending.values()]) p.reject(why);
    });
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    this.child = child;
  }

  private accept(s: Socket): void {
    let buf = '';
    const t = setTimeout(() => s.destroy(), HELLO_TIMEOUT_MS);
    t.unref();
    s.on('error', () => undefined);
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 64) s.destroy();
        return;
      }
      s.off('data', onData);
      s.pause();
      clearTimeout(t);
      const rest = Buffer.from(buf.slice(nl + 1), 'latin1');
      if (rest.length > 0) s.unshift(rest);
      const m = TOKEN_RE.exec(buf.slice(0, nl));
      const p = m ? this.pending.get(m[1] as string) : undefined;
      if (m === null || p === undefined || (m[2] === 'ctl' ? p.ctl : p.err) !== undefined) {
        s.destroy();
        return;
      }
      if (m[2] === 'ctl') p.ctl = s;
      else p.err = s;
      if (p.ctl !== undefined && p.err !== undefined) {
        this.pending.delete(m[1] as string);
        clearTimeout(p.timer);
        p.resolve({ ctl: p.ctl, stderr: p.err });
      }
    };
    s.on('data', onData);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of [...this.pending.values()]) p.reject(new ShoalError('Unavailable', 'the helper spawner is closed'));
    const child = this.child;
    this.child = undefined;
    child?.stdin?.end();
    child?.kill('SIGKILL');
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }
}
