/**
 * Image metadata on disk, under `<data>/images/`:
 *   refs.json              { "version": 1, "refs": { "<normalised ref>": "<manifest digest>" } }
 *   records/<hex>.json     one ImageRecord per manifest digest
 * Every file is written atomically (temp file, fsync, rename, fsync of the directory), so a
 * crash leaves the old or the new version. Records are written before the refs that point at
 * them; a record no ref points at is "dangling" and is collected by the service's gc.
 * The store is owned by one agent process; mutations are serialised in process.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../../api/index.js';
import { isSha256Digest } from '../oci/digest.js';
import type { Descriptor, Platform } from '../oci/manifest.js';
import { isAtomicTempFile, writeFileAtomic } from '../../util/index.js';

export interface ImageRecord {
  /** Image id: the config digest, as Docker's image ID. */
  id: string;
  manifestDigest: string;
  manifestMediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  diffIds: string[];
  chainIds: string[];
  platform: Platform;
  /** Sum of the compressed layer sizes and the config. */
  size: number;
  /** `created` of the image config, when present. */
  created?: string;
  /** When this node got the image. */
  addedAt: string;
}

export interface ImageEntry {
  record: ImageRecord;
  /** Normalised references pointing at the record, sorted. */
  refs: string[];
}

export interface ImageStoreOptions {
  /** Normalises a user reference (`busybox` → `docker.io/library/busybox:latest`); throws on invalid ones. */
  normalize: (ref: string) => string;
}

interface RefsFile {
  version: 1;
  refs: Record<string, string>;
}

const HEX64 = /^[0-9a-f]{64}$/;

export class ImageStore {
  private refs = new Map<string, string>();
  private records = new Map<string, ImageRecord>();
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly opts: ImageStoreOptions,
  ) {}

  static async open(dir: string, opts: ImageStoreOptions): Promise<ImageStore> {
    const s = new ImageStore(dir, opts);
    await mkdir(join(dir, 'records'), { recursive: true, mode: 0o700 });
    await s.load();
    return s;
  }

  private async load(): Promise<void> {
    for (const name of await readdir(join(this.dir, 'records'))) {
      const path = join(this.dir, 'records', name);
      if (isAtomicTempFile(name)) {
        await rm(path, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        const rec = JSON.parse(await readFile(path, 'utf8')) as ImageRecord;
        this.records.set(rec.manifestDigest, rec);
      } catch {
        // A record that cannot be read is useless; drop it rather than refuse to start.
        await rm(path, { force: true });
      }
    }
    let file: RefsFile | undefined;
    try {
      file = JSON.parse(await readFile(join(this.dir, 'refs.json'), 'utf8')) as RefsFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw errors.internal(`image refs index ${join(this.dir, 'refs.json')} is unreadable`, { cause: err });
    }
    for (const [ref, digest] of Object.entries(file?.refs ?? {})) {
      if (this.records.has(digest)) this.refs.set(ref, digest);
    }
  }

  /** Runs `fn` after every mutation queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async saveRefs(): Promise<void> {
    const refs: Record<string, string> = {};
    for (const k of [...this.refs.keys()].sort()) refs[k] = this.refs.get(k) as string;
    await writeFileAtomic(join(this.dir, 'refs.json'), JSON.stringify({ version: 1, refs } satisfies RefsFile, null, 2));
  }

  /** Stores a record (replacing one of the same manifest digest) and points `ref` (if any) at it. */
  put(record: ImageRecord, ref?: string): Promise<void> {
    return this.serial(async () => {
      const hex = hexOf(record.manifestDigest);
      await writeFileAtomic(join(this.dir, 'records', `${hex}.json`), JSON.stringify(record, null, 2));
      this.records.set(record.manifestDigest, record);
      if (ref !== undefined) {
        this.refs.set(this.opts.normalize(ref), record.manifestDigest);
        await this.saveRefs();
      }
    });
  }

  /** Every image record with its references, newest first. */
  list(): ImageEntry[] {
    return [...this.records.values()]
      .map((record) => ({ record, refs: this.refsOf(record.manifestDigest) }))
      .sort((a, b) => b.record.addedAt.localeCompare(a.record.addedAt));
  }

  get(manifestDigest: string): ImageRecord | undefined {
    return this.records.get(manifestDigest);
  }

  refsOf(manifestDigest: string): string[] {
    return [...this.refs.entries()].filter(([, d]) => d === manifestDigest).map(([r]) => r).sort();
  }

  /**
   * Finds an image by reference (full or familiar), by id (`sha256:<config hex>`), by manifest
   * digest, or by a unique prefix of at least 4 hex characters of the id. NotFound otherwise;
   * InvalidArgument when a prefix is ambiguous.
   */
  resolve(refOrId: string): ImageEntry {
    const found = this.lookup(refOrId);
    if (!found) throw errors.notFound(`no such image: ${refOrId}`, { kind: 'Image', name: refOrId });
    return { record: found, refs: this.refsOf(found.manifestDigest) };
  }

  /** Like resolve, but undefined when absent. */
  find(refOrId: string): ImageEntry | undefined {
    const found = this.lookup(refOrId);
    return found ? { record: found, refs: this.refsOf(found.manifestDigest) } : undefined;
  }

  private lookup(q: string): ImageRecord | undefined {
    const direct = this.refs.get(q);
    if (direct) return this.records.get(direct);
    const idLike = q.startsWith('sha256:') ? q.slice(7) : q;
    if (/^[0-9a-f]{4,64}$/.test(idLike)) {
      const byId = [...this.records.values()].filter((r) => r.id.slice(7).startsWith(idLike));
      const ids = new Set(byId.map((r) => r.id));
      if (ids.size > 1) throw errors.invalidArgument(`image id prefix "${q}" is ambiguous: it matches ${ids.size} images`);
      // Several records (manifests) may share one config; prefer one with references.
      if (byId.length > 0) return byId.find((r) => this.refsOf(r.manifestDigest).length > 0) ?? byId[0];
      if (q.startsWith('sha256:') && HEX64.test(idLike)) {
        const byManifest = this.records.get(q);
        if (byManifest) return byManifest;
      }
      if (q.startsWith('sha256:')) return undefined;
    }
    let norm: string;
    try {
      norm = this.opts.normalize(q);
    } catch {
      return undefined;
    }
    const d = this.refs.get(norm);
    return d ? this.records.get(d) : undefined;
  }

  /** Points `target` at the image `source` names (any form resolve accepts). */
  tag(source: string, target: string): Promise<ImageEntry> {
    const norm = this.opts.normalize(target);
    if (norm.includes('@')) throw errors.invalidArgument(`cannot tag with a digest reference "${target}": use name:tag`);
    return this.serial(async () => {
      const { record } = this.resolve(source);
      this.refs.set(norm, record.manifestDigest);
      await this.saveRefs();
      return { record, refs: this.refsOf(record.manifestDigest) };
    });
  }

  /** Removes references; returns those removed. */
  untag(refs: readonly string[]): Promise<string[]> {
    return this.serial(async () => {
      const removed = refs.filter((r) => this.refs.delete(r));
      if (removed.length > 0) await this.saveRefs();
      return removed;
    });
  }

  /** Deletes a record and every reference to it. */
  deleteRecord(manifestDigest: string): Promise<void> {
    return this.serial(async () => {
      let changed = false;
      for (const [r, d] of [...this.refs.entries()]) {
        if (d === manifestDigest) changed = this.refs.delete(r) || changed;
      }
      if (changed) await this.saveRefs();
      this.records.delete(manifestDigest);
      await rm(join(this.dir, 'records', `${hexOf(manifestDigest)}.json`), { force: true });
    });
  }
}

function hexOf(digest: string): string {
  if (!isSha256Digest(digest)) throw errors.invalidArgument(`"${digest}" is not a sha256 digest`);
  return digest.slice('sha256:'.length);
}

