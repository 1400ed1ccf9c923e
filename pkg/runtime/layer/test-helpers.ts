/**
 * Helpers for the layer tests (not exported from index.ts): tar building, a listing of a
 * directory tree for before/after comparisons, and making sure the native helper is built.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { Header } from 'tar-stream';
import { findFsopsBinary } from './fsops.js';

export interface TarEntry {
  header: Partial<Header> & { name: string };
  data?: string | Buffer;
}

export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const h = { mtime: new Date(1_600_000_000_000), mode: e.header.type === 'directory' ? 0o755 : 0o644, ...e.header };
    await new Promise<void>((resolve, reject) => {
      pack.entry(h, e.data ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function streamOf(b: Buffer, chunk = 4096): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += chunk) parts.push(b.subarray(i, i + chunk));
  return Readable.from(parts);
}

export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** Every path under `dir` with type, mode, size, mtime, link text and content hash. */
export async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(p);
      let extra = '';
      if (st.isSymbolicLink()) extra = `-> ${await readlink(p)}`;
      else if (st.isFile()) extra = sha256(await readFile(p));
      out.push(`${r} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${st.nlink} ${extra}`);
      if (st.isDirectory()) await walk(p, r);
    }
  };
  await walk(dir, '');
  return out;
}

/** Builds native/build/shoal-fsops when it is missing; returns its path or undefined. */
export function ensureFsops(): string | undefined {
  const bin = findFsopsBinary();
  if (!existsSync(bin)) {
    try {
      execFileSync('make', ['-s', 'native'], { cwd: dirname(dirname(dirname(bin))), stdio: 'ignore' });
    } catch {
      return undefined;
    }
  }
  return existsSync(bin) ? bin : undefined;
}

export const isRoot = process.getuid?.() === 0;

let python: boolean | undefined;
/** Reads an xattr with python3 (Node has no getxattr); undefined when absent or python3 missing. */
export function getXattr(path: string, name: string): Buffer | undefined {
  try {
    const hex = execFileSync('python3', ['-c', 'import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError: pass', path, name], { encoding: 'utf8' });
    python = true;
    return hex === '' ? undefined : Buffer.from(hex, 'hex');
  } catch {
    python = false;
    return undefined;
  }
}

export function hasPython(): boolean {
  if (python === undefined) getXattr('/', 'user.none');
  return python === true;
}
