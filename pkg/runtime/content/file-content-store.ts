/**
 * The content store on disk: `<root>/blobs/sha256/<hex>` (verified, read-only blobs) and
 * `<root>/ingest/<hex>-<random>` (downloads in progress). A download is hashed and counted as it
 * is written, checked against the claimed digest and size, fsynced, made read-only and renamed
 * into place; the blob directory is fsynced after the rename. A crash leaves only ingest files,
 * which `create()` removes.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ShoalError, isShoalError } from '../../api/index.js';
import { explainNoSpace, isNoSpace } from '../../util/index.js';
import type { BlobInfo, BlobSource, ContentDescriptor, ContentStore, IngestOptions, IngestProgress } from './content-store.js';
import { checkDigest, checkSize } from './digest.js';
import { sha256Digest } from '../oci/digest.js';

/** Default cap of `readBytes`: the distribution spec's manifest size limit. */
export const DEFAULT_READ_BYTES_LIMIT = 4 * 1024 * 1024;

const HEX = /^[a-f0-9]{64}$/;

interface Inflight {
  promise: Promise<BlobInfo>;
  controller: AbortController;
  waiters: number;
  listeners: Set<(p: IngestProgress) => void>;
}

export class FileContentStore implements ContentStore {
  private readonly inflight = new Map<string, Inflight>();
  private readonly blobDir: string;
  private readonly ingestDir: string;

  private constructor(readonly root: string) {
    this.blobDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  /** Creates the directories when absent and removes ingest leftovers of a crash. */
  static async create(root: string): Promise<FileContentStore> {
    const store = new FileContentStore(root);
    await mkdir(store.blobDir, { recursive: true, mode: 0o755 });
    await mkdir(store.ingestDir, { recursive: true, mode: 0o700 });
    await store.cleanIngest();
    return store;
  }

  /** Path of a blob (whether or not it exists); the digest is validated first. */
  blobPath(digest: string): string {
    return join(this.blobDir, checkDigest(digest));
  }

  async ingest(desc: ContentDescriptor, source: BlobSource, opts: IngestOptions = {}): Promise<BlobInfo> {
    const hex = checkDigest(desc.digest);
    const size = checkSize(desc.size, desc.digest);
    throwIfAborted(opts.signal);
    let entry = this.inflight.get(desc.digest);
    if (entry === undefined) {
      const existing = await this.statBlob(hex);
      if (existing !== undefined) return matchSize(desc.digest, existing, size);
      entry = this.inflight.get(desc.digest); // another caller may have started while we looked
    }
    if (entry === undefined) {
      const controller = new AbortController();
      const created: Inflight = { promise: Promise.resolve({ digest: desc.digest, size }), controller, waiters: 0, listeners: new Set() };
      created.promise = this.download(desc.digest, hex, size, source, created).finally(() => {
        this.inflight.delete(desc.digest);
      });
      // A download every caller has left still settles; nobody may be listening then.
      created.promise.catch(() => undefined);
      this.inflight.set(desc.digest, created);
      entry = created;
    }
    const info = await this.join(entry, opts);
    return matchSize(desc.digest, info.size, size);
  }

  async writeBytes(bytes: Uint8Array, expected: Partial<ContentDescriptor> = {}): Promise<BlobInfo> {
    const digest = sha256Digest(bytes);
    if (expected.digest !== undefined && expected.digest !== digest) {
      checkDigest(expected.digest);
      throw new ShoalError('DataLoss', `content does not match its digest: expected ${expected.digest}, got ${digest}`);
    }
    if (expected.size !== undefined && expected.size !== bytes.byteLength) {
      throw new ShoalError('DataLoss', `content of ${digest} is ${bytes.byteLength} bytes, expected ${expected.size}`);
    }
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.ingest({ digest, size: bytes.byteLength }, () => Promise.resolve(Readable.from([buf])));
  }

  async info(digest: string): Promise<BlobInfo> {
    const size = await this.statBlob(checkDigest(digest));
    if (size === undefined) throw new ShoalError('NotFound', `blob ${digest} not found in the content store`);
    return { digest, size };
  }

  async has(digest: string): Promise<boolean> {
    return (await this.statBlob(checkDigest(digest))) !== undefined;
  }

  async readStream(digest: string): Promise<Readable> {
    const path = this.blobPath(digest);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new ShoalError('NotFound', `blob ${digest} not found in the content store`);
      throw err;
    }
    return fh.createReadStream();
  }

  async readBytes(digest: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    const max = opts.maxBytes ?? DEFAULT_READ_BYTES_LIMIT;
    const { size } = await this.info(digest);
    if (size > max) throw new ShoalError('TooLarge', `blob ${digest} is ${size} bytes, over the ${max}-byte limit for reading it whole`);
    const bytes = await readFile(this.blobPath(digest));
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw new ShoalError('DataLoss', `blob ${digest} on disk is corrupt (its content hashes to ${actual})`);
    return bytes;
  }

  async delete(digest: string): Promise<boolean> {
    const path = this.blobPath(digest);
    try {
      await rm(path);
      return true;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    let names: string[];
    try {
      names = await readdir(this.blobDir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    names.sort();
    for (const name of names) {
      if (!HEX.test(name)) continue;
      const size = await this.statBlob(name);
      if (size !== undefined) yield { digest: `sha256:${name}`, size };
    }
  }

  async cleanIngest(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.ingestDir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return 0;
      throw err;
    }
    let removed = 0;
    for (const name of names) {
      // Ingests of this process are running; leave them alone.
      if ([...this.inflight.keys()].some((d) => name.startsWith(`${d.slice('sha256:'.length)}-`))) continue;
      await rm(join(this.ingestDir, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** Size of a stored blob, undefined when absent. `hex` must be validated. */
  private async statBlob(hex: string): Promise<number | undefined> {
    try {
      const st = await lstat(join(this.blobDir, hex));
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Attaches one caller to a download: its progress listener and its own cancellation. */
  private join(entry: Inflight, opts: IngestOptions): Promise<BlobInfo> {
    const { signal, onProgress } = opts;
    entry.waiters++;
    if (onProgress !== undefined) entry.listeners.add(onProgress);
    return new Promise<BlobInfo>((resolve, reject) => {
      let done = false;
      const leave = (): void => {
        if (done) return;
        done = true;
        entry.waiters--;
        if (onProgress !== undefined) entry.listeners.delete(onProgress);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        leave();
        if (entry.waiters === 0) entry.controller.abort();
        reject(new ShoalError('Canceled', 'ingest canceled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.promise.then(
        (info) => {
          leave();
          resolve(info);
        },
        (err: unknown) => {
          leave();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  private async download(digest: string, hex: string, size: number, source: BlobSource, entry: Inflight): Promise<BlobInfo> {
    const signal = entry.controller.signal;
    const tmp = join(this.ingestDir, `${hex}-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o600);
    let closed = false;
    let moved = false;
    try {
      const hash = createHash('sha256');
      let received = 0;
      try {
        const src = await source(signal);
        const stop = (): void => {
          if (src instanceof Readable) src.destroy(new ShoalError('Canceled', `download of ${digest} canceled`));
        };
        signal.addEventListener('abort', stop, { once: true });
        try {
          for await (const chunk of src) {
            if (signal.aborted) throw new ShoalError('Canceled', `download of ${digest} canceled`);
            const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
            received += buf.byteLength;
            if (received > size) throw new ShoalError('DataLoss', `blob ${digest} is longer than its descriptor's ${size} bytes`);
            hash.update(buf);
            await writeAll(fh, buf);
            for (const l of entry.listeners) l({ digest, current: received, total: size });
          }
        } finally {
          signal.removeEventListener('abort', stop);
        }
      } catch (err) {
        if (signal.aborted) throw new ShoalError('Canceled', `download of ${digest} canceled`, { cause: err });
        if (isShoalError(err)) throw err;
        // Our write failed, not the source: a full disk is ours to explain, not the registry's.
        if (isNoSpace(err)) throw await explainNoSpace(err, this.ingestDir, `storing blob ${digest}`);
        const message = err instanceof Error ? err.message : String(err);
        throw new ShoalError('Unavailable', `reading blob ${digest}: ${message}`, { cause: err });
      }
      if (received !== size) {
        throw new ShoalError('DataLoss', `blob ${digest} is ${received} bytes, its descriptor says ${size}`);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) {
        throw new ShoalError('DataLoss', `blob content does not match its digest: expected ${digest}, got ${actual}`);
      }
      await fh.chmod(0o444);
      await fh.sync();
      closed = true;
      await fh.close();
      await rename(tmp, join(this.blobDir, hex));
      moved = true;
      await syncDir(this.blobDir);
      return { digest, size };
    } finally {
      if (!closed) await fh.close().catch(() => undefined);
      if (!moved) await rm(tmp, { force: true });
    }
  }
}

function matchSize(digest: string, actual: number, claimed: number): BlobInfo {
  if (actual !== claimed) {
    throw new ShoalError('DataLoss', `blob ${digest} is ${actual} bytes, the descriptor says ${claimed}`);
  }
  return { digest, size: actual };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new ShoalError('Canceled', 'ingest canceled');
}

async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.byteLength) {
    const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off);
    off += bytesWritten;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

