import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync, gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errors, isShoalError } from '../../api/index.js';
import { MemoryContentStore } from '../content/index.js';
import { FakeRegistry, MemoryCredentialStore, RegistryClient, type Registry } from '../registry/index.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from '../oci/media-types.js';
import type { LayerApplier } from './pull.js';
import { ImageService } from './service.js';
import { type LayerProgress } from '../../api/index.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// Stand-in for layer apply: checks the diff_id and keeps the tar as one file.
const applied: string[] = [];
const fakeApply: LayerApplier = async (dir, blob, opts) => {
  const chunks: Buffer[] = [];
  for await (const c of blob) chunks.push(c as Buffer);
  let data = Buffer.concat(chunks);
  if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
  if (sha(data) !== opts.expectedDiffId) throw errors.dataLoss(`diff_id mismatch: ${sha(data)} != ${opts.expectedDiffId}`);
  applied.push(opts.expectedDiffId);
  await writeFile(join(dir, 'layer.tar'), data);
};

describe('ImageService', () => {
  let dir: string;
  let reg: FakeRegistry;
  let content: MemoryContentStore;
  let svc: ImageService;
  let inUse = new Set<string>();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-imgsvc-'));
    reg = await FakeRegistry.start();
    content = new MemoryContentStore();
    svc = await ImageService.create({
      dataDir: dir,
      registry: new RegistryClient({ credentials: new MemoryCredentialStore() }),
      credentials: new MemoryCredentialStore(),
      content,
      applyLayer: fakeApply,
      platform: { os: 'linux', architecture: 'amd64' },
      maxLayerSize: 1024 * 1024,
    });
    inUse = new Set();
    svc.setImageInUseHook((id) => inUse.has(id));
    applied.length = 0;
  });
  afterEach(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  const blobs = async (): Promise<string[]> => {
    const out: string[] = [];
    for await (const b of content.list()) out.push(b.digest);
    return out;
  };

  /** A multi-layer image in the fake registry, behind an OCI index with two platforms. */
  function seedImage(repo: string, tag: string, layers: string[], corrupt?: number): { manifestDigest: string; configDigest: string } {
    const tars = layers.map((l) => Buffer.from(l.padEnd(1024, '.')));
    const descs = tars.map((t, i) => {
      const gz = gzipSync(t);
      if (i === corrupt) {
        const d = sha(gz);
        reg.putCorruptBlob(repo, d, Buffer.concat([gz.subarray(0, gz.length - 1), Buffer.from([gz.at(-1)! ^ 1])]));
        return { mediaType: OCI_LAYER_GZIP, digest: d, size: gz.length };
      }
      return { mediaType: OCI_LAYER_GZIP, ...reg.putBlob(repo, gz) };
    });
    const config = JSON.stringify({
      created: '2024-05-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: tars.map(sha) },
    });
    const c = reg.putBlob(repo, config);
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, ...c }, layers: descs });
    const manifestDigest = reg.putManifest(repo, undefined, OCI_MANIFEST, manifest);
    const armManifest = reg.putManifest(repo, undefined, OCI_MANIFEST, manifest.replace('"schemaVersion":2', '"schemaVersion":2 '));
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: armManifest, size: manifest.length + 1, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: OCI_MANIFEST, digest: manifestDigest, size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    });
    reg.putManifest(repo, tag, OCI_INDEX, index);
    return { manifestDigest, configDigest: c.digest };
  }

  it('pulls a multi-layer image through an index, applies layers in order, and reports progress', async () => {
    const { manifestDigest, configDigest } = seedImage('team/app', '1.0', ['one', 'two', 'three', 'four']);
    const events: LayerProgress[] = [];
    const r = await svc.pull(`${reg.host}/team/app:1.0`, { onProgress: (e) => events.push(e) });
    expect(r).toEqual({ ref: `${reg.host}/team/app:1.0`, digest: manifestDigest, id: configDigest });
    expect(applied).toEqual(['one', 'two', 'three', 'four'].map((l) => sha(l.padEnd(1024, '.'))));
    const ids = [...new Set(events.map((e) => e.id))];
    expect(ids).toHaveLength(4);
    for (const id of ids) expect(events.filter((e) => e.id === id).at(-1)?.status).toBe('done');
    const inspect = await svc.inspect(`${reg.host}/team/app:1.0`);
    expect(inspect.Config).toEqual({ Cmd: ['sh'], Env: ['PATH=/bin'] });
    expect(inspect.GraphDriver.Data.LowerDirs).toHaveLength(4);
    expect(inspect.RepoDigests).toEqual([`${reg.host}/team/app@${manifestDigest}`]);
    const run = await svc.resolveForRun(configDigest.slice(7, 19));
    expect(run.lowerDirs[0]).toBe(inspect.GraphDriver.Data.LowerDirs[0]);
    // A second pull finds everything present: no new downloads, no new applies.
    const before = reg.requests.filter((q) => q.path.includes('/blobs/')).length;
    await svc.pull(`${reg.host}/team/app:1.0`);
    expect(reg.requests.filter((q) => q.path.includes('/blobs/')).length).toBe(before);
    expect(applied).toHaveLength(4);
  });

  it('charges every unpacked layer to the image budget and names the image when it runs out', async () => {
    seedImage('team/big', '1', ['one', 'two', 'three']);
    const seen: { bytes?: number; entries?: number; name?: string }[] = [];
    const budgeted = await ImageService.create({
      dataDir: join(dir, 'b'),
      registry: new RegistryClient({ credentials: new MemoryCredentialStore() }),
      credentials: new MemoryCredentialStore(),
      content: new MemoryContentStore(),
      // Each layer "unpacks" 1,024 bytes and 3 entries, and honours the budget it is given.
      applyLayer: async (_d, blob, o) => {
        for await (const _ of blob) void _;
        seen.push({ ...(o.maxUncompressedBytes !== undefined ? { bytes: o.maxUncompressedBytes } : {}), ...(o.maxEntries !== undefined ? { entries: o.maxEntries } : {}), ...(o.limitName ? { name: o.limitName } : {}) });
        if ((o.maxUncompressedBytes ?? Infinity) < 1024) throw errors.tooLarge(`${o.limitName ?? 'layer'} exceeds the limit`);
        return { size: 1024, entries: 3 };
      },
      platform: { os: 'linux', architecture: 'amd64' },
      maxLayerSize: 1024 * 1024,
      imageBudget: { maxBytes: 2500, maxEntries: 100 },
    });
    const err = await budgeted.pull(`${reg.host}/team/big:1`).catch((e: unknown) => e);
    expect(isShoalError(err, 'TooLarge')).toBe(true);
    expect((err as Error).message).toContain(`image ${reg.host}/team/big:1 exceeds the limit`);
    expect(seen).toEqual([
      { bytes: 2500, entries: 100, name: `image ${reg.host}/team/big:1` },
      { bytes: 1476, entries: 97, name: `image ${reg.host}/team/big:1` },
      { bytes: 452, entries: 94, name: `image ${reg.host}/team/big:1` },
    ]);
  });

  it('fetches at least 3 blobs at once', async () => {
    seedImage('par/app', 'v', ['l1', 'l2', 'l3', 'l4', 'l5']);
    const inner = new RegistryClient({ credentials: new MemoryCredentialStore() });
    let active = 0;
    let peak = 0;
    const slow: Registry = {
      resolve: (r, o) => inner.resolve(r, o),
      fetchManifest: (r, d, o) => inner.fetchManifest(r, d, o),
      blobExists: (r, d, o) => inner.blobExists(r, d, o),
      pushBlob: (r, d, open, o) => inner.pushBlob(r, d, open, o),
      pushManifest: (r, t, m, b, o) => inner.pushManifest(r, t, m, b, o),
      login: (d, u, p, o) => inner.login(d, u, p, o),
      fetchBlob: async (r, d, o) => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((res) => setTimeout(res, 50));
        try {
          return await inner.fetchBlob(r, d, o);
        } finally {
          active--;
        }
      },
    };
    const par = await ImageService.create({
      dataDir: join(dir, 'par'),
      registry: slow,
      credentials: new MemoryCredentialStore(),
      content: new MemoryContentStore(),
      applyLayer: fakeApply,
      platform: { os: 'linux', architecture: 'amd64' },
      maxLayerSize: 1024 * 1024,
    });
    await par.pull(`${reg.host}/par/app:v`);
    expect(peak).toBeGreaterThanOrEqual(3);
  });

  it('fails a pull whose blob does not match its digest and leaves nothing behind', async () => {
    seedImage('bad/app', 'x', ['a', 'b', 'c'], 1);
    await expect(svc.pull(`${reg.host}/bad/app:x`)).rejects.toMatchObject({ code: 'DataLoss' });
    expect(await svc.list()).toEqual([]);
    expect(await blobs()).toEqual([]);
    expect(await readdir(join(dir, 'snapshots'))).toEqual([]);
  });

  it('tells onPulled the bytes downloaded and the time taken, failed pulls too', async () => {
    seedImage('obs/app', 'v', ['o1', 'o2', 'o3', 'o4']);
    seedImage('obsbad/app', 'x', ['a', 'b'], 1);
    const seen: { ref: string; bytes: number; seconds: number; ok: boolean }[] = [];
    const obs = await ImageService.create({
      dataDir: join(dir, 'obs'),
      registry: new RegistryClient({ credentials: new MemoryCredentialStore() }),
      credentials: new MemoryCredentialStore(),
      content: new MemoryContentStore(),
      applyLayer: fakeApply,
      platform: { os: 'linux', architecture: 'amd64' },
      maxLayerSize: 1024 * 1024,
      onPulled: (ev) => seen.push(ev),
    });
    await obs.pull(`${reg.host}/obs/app:v`);
    await obs.pull(`${reg.host}/obs/app:v`);
    await expect(obs.pull(`${reg.host}/obsbad/app:x`)).rejects.toMatchObject({ code: 'DataLoss' });
    expect(seen).toHaveLength(3);
    expect(seen[0]).toMatchObject({ ref: `${reg.host}/obs/app:v`, ok: true });
    const layerBytes = ['o1', 'o2', 'o3', 'o4'].reduce((n, l) => n + gzipSync(Buffer.from(l.padEnd(1024, '.'))).length, 0);
    expect(seen[0]?.bytes).toBe(layerBytes); // the four gzipped layers (config and manifest are not counted)
    expect(seen[1]).toMatchObject({ bytes: 0, ok: true }); // everything present already
    expect(seen[2]).toMatchObject({ ok: false });
    for (const ev of seen) expect(ev.seconds).toBeGreaterThanOrEqual(0);
  });

  it('names the image when a tag is missing', async () => {
    await expect(svc.pull(`${reg.host}/nothing/here:v9`)).rejects.toMatchObject({ code: 'NotFound', message: expect.stringContaining('nothing/here') });
  });

  it('imports a tar, pushes it, removes it with gc, and pulls back the same digest', async () => {
    const tar = Buffer.alloc(4096, 7);
    const imp = await svc.importTar(Readable.from([tar]), `${reg.host}/lib/bb:1`);
    const ins = await svc.inspect(imp.id);
    expect(ins.RootFS.Layers).toEqual([sha(tar)]);
    expect(ins.Architecture).toBe('amd64');
    const events: LayerProgress[] = [];
    const pushed = await svc.push(`${reg.host}/lib/bb:1`, { onProgress: (e) => events.push(e) });
    expect(pushed.digest).toBe(imp.digest);
    expect(events.at(-1)?.status).toBe('pushed');
    const rm1 = await svc.remove(`${reg.host}/lib/bb:1`);
    expect(rm1.untagged).toEqual([`${reg.host}/lib/bb:1`]);
    expect(rm1.deleted[0]).toBe(imp.id);
    expect(await blobs()).toEqual([]);
    expect(await readdir(join(dir, 'snapshots'))).toEqual([]);
    const back = await svc.pull(`${reg.host}/lib/bb:1`);
    expect(back.digest).toBe(imp.digest);
    expect(await readFile(join((await svc.resolveForRun(back.id)).lowerDirs[0]!, 'layer.tar'))).toEqual(tar);
  });

  it('refuses an import over the layer cap and an empty one', async () => {
    await expect(svc.importTar(Readable.from([Buffer.alloc(2 * 1024 * 1024)]), 'big:1')).rejects.toMatchObject({ code: 'TooLarge' });
    await expect(svc.importTar(Readable.from([]), 'empty:1')).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(await blobs()).toEqual([]);
  });

  it('untags before deleting, and guards multi-tagged and in-use images', async () => {
    const imp = await svc.importTar(Readable.from([Buffer.alloc(1024, 1)]), 'one:1');
    await svc.tag('one:1', 'two:2');
    await expect(svc.remove(imp.id)).rejects.toMatchObject({ code: 'Conflict' });
    expect(await svc.remove('two:2')).toEqual({ untagged: ['two:2'], deleted: [] });
    inUse.add(imp.id);
    await expect(svc.remove('one:1')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await svc.remove('one:1', { force: true })).toEqual({ untagged: ['one:1'], deleted: [] });
    expect((await svc.list())[0]?.RepoTags).toEqual([]);
    inUse.clear();
    expect((await svc.remove(imp.id)).deleted[0]).toBe(imp.id);
    expect(await svc.list()).toEqual([]);
  });
});
