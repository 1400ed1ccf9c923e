/**
 * The TypeScript side of `native/fsops` (see docs/content-and-layers.md for the record format):
 * extended attributes and device nodes, which Node cannot create. One helper process serves one
 * layer, started on the first operation, so layers without xattrs or devices spawn nothing.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShoalError, type ErrorCode } from '../../api/index.js';

export type NodeKind = 'c' | 'b' | 'p';

/** What layer apply needs beyond Node's fs; tests may pass a recording fake. */
export interface FsOps {
  /** lsetxattr(2): never follows a final symlink. */
  setxattr(path: string, name: string, value: Uint8Array): Promise<void>;
  /** mknod(2) of a char or block device or a FIFO; fails when the name exists. */
  mknod(path: string, kind: NodeKind, mode: number, major: number, minor: number): Promise<void>;
  /** Ends the batch; rejects when the helper failed. `force` kills it (after an error elsewhere). */
  close(opts?: { force?: boolean }): Promise<void>;
}

export const FSOPS_BINARY = 'native/build/shoal-fsops';

/**
 * The helper binary: `explicit` when given, else `native/build/shoal-fsops` under the package
 * root, found by walking up from this module (works from pkg/ and from the dist/ bundle).
 */
export function findFsopsBinary(explicit?: string): string {
  if (explicit !== undefined) return explicit;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, FSOPS_BINARY);
    const up = dirname(dir);
    if (up === dir) return join(dirname(fileURLToPath(import.meta.url)), FSOPS_BINARY);
    dir = up;
  }
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

const MAX_STDERR = 64 * 1024;

export class NativeFsOps implements FsOps {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending: Pending[] = [];
  private stdout = '';
  private stderr = '';
  private failure: ShoalError | undefined;
  private exited: Promise<number | null> | undefined;

  constructor(private readonly binary: string = findFsopsBinary()) {}

  setxattr(path: string, name: string, value: Uint8Array): Promise<void> {
    return this.send(['setxattr', path, name, Buffer.from(value).toString('hex')]);
  }

  mknod(path: string, kind: NodeKind, mode: number, major: number, minor: number): Promise<void> {
    return this.send(['mknod', path, kind, (mode & 0o7777).toString(8), String(major >>> 0), String(minor >>> 0)]);
  }

  async close(opts: { force?: boolean } = {}): Promise<void> {
    const child = this.child;
    if (child === undefined || this.exited === undefined) return;
    if (opts.force === true) child.kill('SIGKILL');
    else child.stdin.end();
    const code = await this.exited;
    if (opts.force !== true && code !== 0 && this.failure === undefined) {
      throw new ShoalError('Internal', `shoal-fsops exited with ${String(code)}: ${this.stderr.trim()}`);
    }
    if (opts.force !== true && this.failure !== undefined) throw this.failure;
  }

  private send(fields: string[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    for (const f of fields) {
      if (f.includes('\0')) return Promise.reject(new ShoalError('InvalidArgument', `path or name contains a NUL byte: ${JSON.stringify(f)}`));
    }
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.start();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      child.stdin.write(Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8'));
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child !== undefined) return this.child;
    if (!existsSync(this.binary)) {
      throw new ShoalError('FailedPrecondition', `the shoal-fsops helper is missing at ${this.binary} (build it with "make native")`);
    }
    const child = spawn(this.binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdin.on('error', () => undefined); // EPIPE after the helper exited; reported by 'close'
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      this.stdout += s;
      let nl: number;
      while ((nl = this.stdout.indexOf('\n')) >= 0) {
        const line = this.stdout.slice(0, nl);
        this.stdout = this.stdout.slice(nl + 1);
        const p = this.pending.shift();
        if (line === 'ok') p?.resolve();
        else p?.reject(new ShoalError('Internal', `shoal-fsops: unexpected answer ${JSON.stringify(line)}`));
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (this.stderr.length < MAX_STDERR) this.stderr += s;
    });
    this.exited = new Promise<number | null>((resolve) => {
      child.on('error', (err) => {
        this.fail(new ShoalError('FailedPrecondition', `cannot run ${this.binary}: ${err.message}`, { cause: err }));
        resolve(null);
      });
      child.on('close', (code) => {
        if (code !== 0 || this.pending.length > 0) this.fail(errorFromStderr(this.stderr, code));
        resolve(code);
      });
    });
    return child;
  }

  private fail(err: ShoalError): void {
    this.failure ??= err;
    for (const p of this.pending.splice(0)) p.reject(this.failure);
  }
}

const ERRNO_CODES: Record<string, ErrorCode> = {
  EPERM: 'PermissionDenied',
  EACCES: 'PermissionDenied',
  EROFS: 'PermissionDenied',
  ENOTSUP: 'FailedPrecondition',
  ENOSPC: 'Unavailable',
  EDQUOT: 'Unavailable',
  EEXIST: 'AlreadyExists',
  ENAMETOOLONG: 'InvalidArgument',
  E2BIG: 'InvalidArgument',
  ERANGE: 'InvalidArgument',
  EINVAL: 'InvalidArgument',
};

/** Turns the helper's "shoal-fsops: OP PATH: ERRNAME: message" line into a ShoalError. */
export function errorFromStderr(stderr: string, code: number | null): ShoalError {
  const line = stderr.trim().split('\n').filter((l) => l.length > 0).at(-1) ?? `shoal-fsops exited with ${String(code)}`;
  const m = /: (E[A-Z0-9]+): [^:]*$/.exec(line);
  const errCode = (m?.[1] !== undefined ? ERRNO_CODES[m[1]] : undefined) ?? 'Internal';
  return new ShoalError(errCode, line);
}
