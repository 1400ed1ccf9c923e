import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import type { BlobSource, ContentStore } from './content-store.js';
import { FileContentStore } from './file-content-store.js';
import { MemoryContentStore } from './memory-content-store.js';

function digestOf(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function sourceOf(b: Buffer, chunk = 7): BlobSource {
  return () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < b.length; i += chunk) parts.push(b.subarray(i, i + chunk));
    return Promise.resolve(Readable.from(parts));
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isShoalError(err) ? err.code : `non-shoal: ${String(err)}`;
  }
  return 'resolved';
}

async function listAll(s: ContentStore): Promise<string[]> {
  const out: string[] = [];
  for await (const b of s.list()) out.push(`${b.digest}:${b.size}`);
  return out;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-content-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const impls: [string, () => Promise<ContentStore>][] = [
  ['FileContentStore', () => FileContentStore.create(join(dir, 'content'))],
  ['MemoryContentStore', () => Promise.resolve(new MemoryContentStore())],
];

describe.each(impls)('%s contract', (_name, make) => {
  const data = Buffer.from('hello, content store\n'.repeat(50));
  const digest = digestOf(data);

  it('ingests, verifies and serves a blob', async () => {
    const s = await make();
    const progress: number[] = [];
    const info = await s.ingest({ digest, size: data.length }, sourceOf(data), { onProgress: (p) => progress.push(p.current) });
    expect(info).toEqual({ digest, size: data.length });
    expect(progress.at(-1)).toBe(data.length);
    expect(await s.has(digest)).toBe(true);
    expect(await s.info(digest)).toEqual({ digest, size: data.length });
    expect((await s.readBytes(digest)).equals(data)).toBe(true);
    const chunks: Buffer[] = [];
    for await (const c of await s.readStream(digest)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(await listAll(s)).toEqual([`${digest}:${data.length}`]);
  });

  it('rejects a digest mismatch with DataLoss and keeps nothing', async () => {
    const s = await make();
    const other = digestOf(Buffer.from('something else'));
    expect(await codeOf(s.ingest({ digest: other, size: data.length }, sourceOf(data)))).toBe('DataLoss');
    expect(await s.has(other)).toBe(false);
    expect(await listAll(s)).toEqual([]);
  });

  it('rejects a size mismatch (longer and shorter) with DataLoss', async () => {
    const s = await make();
    expect(await codeOf(s.ingest({ digest, size: data.length - 1 }, sourceOf(data)))).toBe('DataLoss');
    expect(await codeOf(s.ingest({ digest, size: data.length + 1 }, sourceOf(data)))).toBe('DataLoss');
    expect(await s.has(digest)).toBe(false);
  });

  it('validates digests before using them', async () => {
    const s = await make();
    for (const bad of ['../../etc/passwd', 'sha256:../x', `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(128)}`, 'sha256:abc', '']) {
      expect(await codeOf(s.info(bad))).toBe('InvalidArgument');
      expect(await codeOf(s.has(bad))).toBe('InvalidArgument');
      expect(await codeOf(s.ingest({ digest: bad, size: 1 }, sourceOf(data)))).toBe('InvalidArgument');
    }
    expect(await codeOf(s.ingest({ digest, size: -1 }, sourceOf(data)))).toBe('InvalidArgument');
  });

  it('answers NotFound for absent blobs and deletes', async () => {
    const s = await make();
    expect(await codeOf(s.info(digest))).toBe('NotFound');
    expect(await codeOf(s.readStream(digest))).toBe('NotFound');
    expect(await s.delete(digest)).toBe(false);
    await s.writeBytes(data);
    expect(await s.delete(digest)).toBe(true);
    expect(await s.has(digest)).toBe(false);
  });

  it('writeBytes verifies an expected digest and size', async () => {
    const s = await make();
    expect(await s.writeBytes(data, { digest, size: data.length })).toEqual({ digest, size: data.length });
    expect(await codeOf(s.writeBytes(data, { digest: digestOf(Buffer.from('x')) }))).toBe('DataLoss');
    expect(await codeOf(s.writeBytes(data, { size: 3 }))).toBe('DataLoss');
  });

  it('caps readBytes', async () => {
    const s = await make();
    await s.writeBytes(data);
    expect(await codeOf(s.readBytes(digest, { maxBytes: 10 }))).toBe('TooLarge');
  });

  it('shares one download between concurrent ingests of a digest', async () => {
    const s = await make();
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const source: BlobSource = async () => {
      calls++;
      await gate;
      return Readable.from([data]);
    };
    const seenA: number[] = [];
    const seenB: number[] = [];
    const a = s.ingest({ digest, size: data.length }, source, { onProgress: (p) => seenA.push(p.current) });
    const b = s.ingest({ digest, size: data.length }, source, { onProgress: (p) => seenB.push(p.current) });
    await new Promise((r) => setTimeout(r, 20));
    release();
    expect(await a).toEqual({ digest, size: data.length });
    expect(await b).toEqual({ digest, size: data.length });
    expect(calls).toBe(1);
    expect(seenA.at(-1)).toBe(data.length);
    // The memory fake reports to the first caller only; the file store reports to both.
    if (s instanceof FileContentStore) expect(seenB.at(-1)).toBe(data.length);
    // Present now: no download at all.
    await s.ingest({ digest, size: data.length }, () => Promise.reject(new Error('must not be called')));
    expect(calls).toBe(1);
  });
});

describe('FileContentStore on disk', () => {
  const data = Buffer.from('x'.repeat(100_000));
  const digest = digestOf(data);
  const hex = digest.slice('sha256:'.length);

  it('stores blobs read-only under blobs/sha256/<hex> and leaves no ingest files', async () => {
    const s = await FileContentStore.create(join(dir, 'content'));
    await s.ingest({ digest, size: data.length }, sourceOf(data, 4096));
    const st = await stat(join(dir, 'content', 'blobs', 'sha256', hex));
    expect(st.size).toBe(data.length);
    expect(st.mode & 0o777).toBe(0o444);
    expect(s.blobPath(digest)).toBe(join(dir, 'content', 'blobs', 'sha256', hex));
    expect(await readdir(join(dir, 'content', 'ingest'))).toEqual([]);
  });

  it('leaves no blob and no ingest file after a mismatch or a failing source', async () => {
    const s = await FileContentStore.create(join(dir, 'content'));
    const bad = Buffer.from(data);
    bad[500] = 0x79;
    expect(await codeOf(s.ingest({ digest, size: data.length }, sourceOf(bad, 4096)))).toBe('DataLoss');
    const failing: BlobSource = () =>
      Promise.resolve(
        Readable.from(
          (async function* () {
            yield data.subarray(0, 1000);
            throw new Error('connection reset');
          })(),
        ),
      );
    expect(await codeOf(s.ingest({ digest, size: data.length }, failing))).toBe('Unavailable');
    expect(await readdir(join(dir, 'content', 'blobs', 'sha256'))).toEqual([]);
    expect(await readdir(join(dir, 'content', 'ingest'))).toEqual([]);
  });

  it('cancels the shared download only when every caller has left', async () => {
    const s = await FileContentStore.create(join(dir, 'content'));
    let sourceSignal: AbortSignal | undefined;
    let calls = 0;
    const slow: BlobSource = (signal) => {
      calls++;
      sourceSignal = signal;
      return Promise.resolve(
        Readable.from(
          (async function* () {
            for (let i = 0; i < data.length; i += 1000) {
              await new Promise((r) => setTimeout(r, 2));
              yield data.subarray(i, i + 1000);
            }
          })(),
        ),
      );
    };
    const ca = new AbortController();
    const a = s.ingest({ digest, size: data.length }, slow, { signal: ca.signal });
    const b = s.ingest({ digest, size: data.length }, slow);
    await new Promise((r) => setTimeout(r, 10));
    ca.abort();
    expect(await codeOf(a)).toBe('Canceled');
    expect(await b).toEqual({ digest, size: data.length });
    expect(calls).toBe(1);
    expect(sourceSignal?.aborted).toBe(false);

    await s.delete(digest);
    const cc = new AbortController();
    const c = s.ingest({ digest, size: data.length }, slow, { signal: cc.signal });
    await new Promise((r) => setTimeout(r, 10));
    cc.abort();
    expect(await codeOf(c)).toBe('Canceled');
    await new Promise((r) => setTimeout(r, 30));
    expect(sourceSignal?.aborted).toBe(true);
    expect(await s.has(digest)).toBe(false);
    expect(await readdir(join(dir, 'content', 'ingest'))).toEqual([]);
  });

  it('removes crash leftovers from the ingest area at start and ignores stray files in blobs', async () => {
    const root = join(dir, 'content');
    await mkdir(join(root, 'ingest', 'stuck-dir'), { recursive: true });
    await writeFile(join(root, 'ingest', `${hex}-abcdef`), 'half a blob');
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(root, 'blobs', 'sha256', 'not-a-digest'), 'junk');
    const s = await FileContentStore.create(root);
    expect(await readdir(join(root, 'ingest'))).toEqual([]);
    expect(await listAll(s)).toEqual([]);
    await writeFile(join(root, 'ingest', 'later'), 'x');
    expect(await s.cleanIngest()).toBe(1);
  });

  it('rejects a stored blob whose size differs from the descriptor', async () => {
    const s = await FileContentStore.create(join(dir, 'content'));
    await s.writeBytes(data);
    expect(await codeOf(s.ingest({ digest, size: 5 }, sourceOf(data)))).toBe('DataLoss');
  });
});
