import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isShoalError, type ErrorCode } from '../../api/index.js';
import { createDigestVerifier, sha256Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import * as mt from '../oci/media-types.js';
import { selectPlatform } from '../oci/platform.js';
import { parseReference } from '../oci/reference.js';
import { keepsAuthorization, RegistryClient } from './client.js';
import { MemoryCredentialStore } from './credentials.js';
import { FakeRegistry, type FakeRegistryOptions } from './fake-registry.js';

const registries: FakeRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close()));
});

async function start(opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  const r = await FakeRegistry.start(opts);
  registries.push(r);
  return r;
}

async function failure(p: Promise<unknown>): Promise<{ code: ErrorCode | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: isShoalError(e) ? e.code : undefined, message: (e as Error).message };
  }
  throw new Error('expected a failure');
}

async function collect(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A one-layer image in `repo`; returns the manifest bytes and digests. */
function seedImage(reg: FakeRegistry, repo: string, tag: string, family: 'oci' | 'docker' = 'oci') {
  const config = reg.putBlob(repo, JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = reg.putBlob(repo, Buffer.alloc(1000, 7));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: family === 'oci' ? mt.OCI_MANIFEST : mt.DOCKER_MANIFEST,
      config: { mediaType: family === 'oci' ? mt.OCI_CONFIG : mt.DOCKER_CONFIG, ...config },
      layers: [{ mediaType: family === 'oci' ? mt.OCI_LAYER_GZIP : mt.DOCKER_LAYER_GZIP, ...layer }],
    }),
  );
  const digest = reg.putManifest(repo, tag, family === 'oci' ? mt.OCI_MANIFEST : mt.DOCKER_MANIFEST, manifest);
  return { manifest, digest, config, layer };
}

describe('RegistryClient pull', () => {
  it('negotiates an OCI index, picks linux/amd64 and fetches the manifest and blobs', async () => {
    const reg = await start();
    const amd = seedImage(reg, 'team/app', 'amd-only');
    const armManifest = reg.putManifest('team/app', undefined, mt.OCI_MANIFEST, '{"schemaVersion":2,"config":{},"layers":[]}');
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: mt.OCI_INDEX,
      manifests: [
        { mediaType: mt.OCI_MANIFEST, digest: armManifest, size: 10, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: mt.OCI_MANIFEST, digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    });
    const indexDigest = reg.putManifest('team/app', '1.0', mt.OCI_INDEX, index);
    const client = new RegistryClient();
    const ref = parseReference(`${reg.host}/team/app:1.0`);

    const top = await client.resolve(ref);
    expect(top.descriptor).toEqual({ mediaType: mt.OCI_INDEX, digest: indexDigest, size: index.length });
    expect(reg.requests[0]?.headers.accept).toContain(mt.DOCKER_MANIFEST_LIST);
    const parsed = parseManifest(top.bytes, top.descriptor.mediaType);
    expect(parsed.kind).toBe('index');
    if (parsed.kind !== 'index') return;
    const chosen = selectPlatform(parsed.index, { os: 'linux', architecture: 'amd64' });
    const m = await client.fetchManifest(ref, chosen.digest);
    expect(m.descriptor.digest).toBe(amd.digest);
    const pm = parseManifest(m.bytes, m.descriptor.mediaType);
    expect(pm.kind).toBe('manifest');
    if (pm.kind !== 'manifest') return;

    const layerDesc = pm.manifest.layers[0]!;
    const blob = await client.fetchBlob(ref, layerDesc);
    expect(blob.size).toBe(1000);
    const bytes = await collect(blob.stream.pipe(createDigestVerifier(layerDesc.digest, layerDesc.size)));
    expect(bytes.equals(Buffer.alloc(1000, 7))).toBe(true);

    const tail = await client.fetchBlob(ref, layerDesc, { offset: 990 });
    expect(tail.size).toBe(10);
    expect((await collect(tail.stream)).length).toBe(10);
  });

  it('resolves a Docker manifest list and a digest reference', async () => {
    const reg = await start();
    const img = seedImage(reg, 'lib/x', 'plain', 'docker');
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: mt.DOCKER_MANIFEST_LIST,
      manifests: [{ mediaType: mt.DOCKER_MANIFEST, digest: img.digest, size: img.manifest.length, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    reg.putManifest('lib/x', 'multi', mt.DOCKER_MANIFEST_LIST, list);
    const client = new RegistryClient();
    const top = await client.resolve(parseReference(`${reg.host}/lib/x:multi`));
    expect(top.descriptor.mediaType).toBe(mt.DOCKER_MANIFEST_LIST);
    const byDigest = await client.resolve(parseReference(`${reg.host}/lib/x@${img.digest}`));
    expect(byDigest.descriptor).toEqual({ mediaType: mt.DOCKER_MANIFEST, digest: img.digest, size: img.manifest.length });
  });

  it('fails with DataLoss when manifest bytes do not match the digest asked for', async () => {
    const reg = await start();
    const wrong = sha256Digest('something else');
    reg.putRawManifest('x', wrong, mt.OCI_MANIFEST, '{"schemaVersion":2}');
    const client = new RegistryClient();
    const r = await failure(client.fetchManifest({ domain: reg.host, path: 'x' }, wrong));
    expect(r.code).toBe('DataLoss');
    expect(r.message).toMatch(/digest mismatch/);
  });

  it('404 on a tag names the image and carries the registry message', async () => {
    const reg = await start();
    const client = new RegistryClient();
    const r = await failure(client.resolve(parseReference(`${reg.host}/x:nope`)));
    expect(r.code).toBe('NotFound');
    expect(r.message).toBe(`manifest for ${reg.host}/x:nope not found: manifest unknown: nope`);
  });

  it('404 on a blob is NotFound naming the blob', async () => {
    const reg = await start();
    const client = new RegistryClient();
    const d = sha256Digest('missing');
    const r = await failure(client.fetchBlob({ domain: reg.host, path: 'x' }, { digest: d, size: 7 }));
    expect(r.code).toBe('NotFound');
    expect(r.message).toContain(d);
    expect(r.message).toContain('blob unknown to registry');
  });

  it('follows a blob redirect to storage', async () => {
    const reg = await start({ auth: 'basic', users: { u: 'p' }, redirectBlobs: true });
    const creds = new MemoryCredentialStore();
    await creds.set(reg.host, 'u', 'p');
    const blob = reg.putBlob('r', 'redirected bytes');
    const client = new RegistryClient({ credentials: creds });
    const got = await client.fetchBlob({ domain: reg.host, path: 'r' }, blob);
    expect((await collect(got.stream)).toString()).toBe('redirected bytes');
    const storage = reg.requests.find((q) => q.path.startsWith('/storage/'));
    expect(storage).toBeDefined();
    expect(reg.requests.some((q) => q.status === 307)).toBe(true);
  });

  it('sends its Authorization through a redirect only to the same scheme, host and port', () => {
    const from = new URL('https://reg.example:5000/v2/r/blobs/sha256:1');
    expect(keepsAuthorization(from, new URL('https://reg.example:5000/storage/1'))).toBe(true);
    expect(keepsAuthorization(from, new URL('http://reg.example:5000/storage/1'))).toBe(false);
    expect(keepsAuthorization(from, new URL('https://reg.example:5001/storage/1'))).toBe(false);
    expect(keepsAuthorization(from, new URL('https://s3.example/bucket/1'))).toBe(false);
    expect(keepsAuthorization(new URL('https://reg.example/v2/'), new URL('http://reg.example/v2/'))).toBe(false);
  });

  it('maps a refused connection to Unavailable naming the host', async () => {
    const reg = await start();
    const host = reg.host;
    await reg.close();
    const client = new RegistryClient();
    const r = await failure(client.resolve(parseReference(`${host}/x:1`)));
    expect(r.code).toBe('Unavailable');
    expect(r.message).toContain(host);
  });

  it('honours an AbortSignal', async () => {
    const reg = await start();
    seedImage(reg, 'a', 't');
    const ac = new AbortController();
    ac.abort();
    const r = await failure(new RegistryClient().resolve(parseReference(`${reg.host}/a:t`), { signal: ac.signal }));
    expect(r.code).toBe('Canceled');
  });
});

describe('RegistryClient auth', () => {
  it('basic auth: challenge, then credentials', async () => {
    const reg = await start({ auth: 'basic', users: { alice: 's3cret' } });
    seedImage(reg, 'p', 't');
    const creds = new MemoryCredentialStore();
    await creds.set(reg.host, 'alice', 's3cret');
    const client = new RegistryClient({ credentials: creds });
    await client.resolve(parseReference(`${reg.host}/p:t`));
    await client.resolve(parseReference(`${reg.host}/p:t`));
    // one 401, then authenticated up front
    expect(reg.requests.map((q) => q.status)).toEqual([401, 200, 200]);
  });

  it('401 without credentials says to log in; wrong credentials say rejected', async () => {
    const reg = await start({ auth: 'basic', users: { alice: 's3cret' } });
    seedImage(reg, 'p', 't');
    const anon = await failure(new RegistryClient().resolve(parseReference(`${reg.host}/p:t`)));
    expect(anon.code).toBe('Unauthorized');
    expect(anon.message).toBe(`authentication required for ${reg.host}: run shoalctl login ${reg.host}`);
    const creds = new MemoryCredentialStore();
    await creds.set(reg.host, 'alice', 'wrong');
    const bad = await failure(new RegistryClient({ credentials: creds }).resolve(parseReference(`${reg.host}/p:t`)));
    expect(bad.code).toBe('Unauthorized');
    expect(bad.message).toMatch(new RegExp(`^credentials rejected by ${reg.host.replace(/\./g, '\\.')}`));
  });

  it('bearer: token fetched from the realm with service and scope, cached, refreshed on expiry', async () => {
    const reg = await start({ auth: 'bearer', users: { bob: 'pw' }, tokenTtl: 60 });
    const img = seedImage(reg, 'team/app', 'v1');
    const creds = new MemoryCredentialStore();
    await creds.set(reg.host, 'bob', 'pw');
    let now = 1_000_000;
    const client = new RegistryClient({ credentials: creds, now: () => now });
    const ref = parseReference(`${reg.host}/team/app:v1`);
    await client.resolve(ref);
    await client.fetchManifest(ref, img.digest);
    await client.fetchBlob(ref, img.layer).then((b) => collect(b.stream));
    const tokenReqs = reg.requests.filter((q) => q.path === '/token');
    expect(tokenReqs).toHaveLength(1);
    expect(tokenReqs[0]!.query.get('service')).toBe('fake,registry');
    expect(tokenReqs[0]!.query.getAll('scope')).toEqual(['repository:team/app:pull']);
    expect(tokenReqs[0]!.headers.authorization).toBe(`Basic ${Buffer.from('bob:pw').toString('base64')}`);
    expect(client.auth.tokenFetches).toBe(1);
    now += 61_000;
    await client.resolve(ref);
    expect(client.auth.tokenFetches).toBe(2);
  });

  it('bearer: anonymous pull works when the registry allows it, push then needs login', async () => {
    const reg = await start({ auth: 'bearer', anonymousPull: true });
    seedImage(reg, 'pub', 'x');
    const client = new RegistryClient();
    await client.resolve(parseReference(`${reg.host}/pub:x`));
    expect(reg.requests.find((q) => q.path === '/token')?.headers.authorization).toBeUndefined();
    const r = await failure(client.pushManifest({ domain: reg.host, path: 'pub' }, 'y', mt.OCI_MANIFEST, Buffer.from('{}')));
    expect(r.code).toBe('Unauthorized');
    expect(r.message).toContain('run shoalctl login');
  });

  it('login verifies credentials against /v2/ (basic and bearer)', async () => {
    const basic = await start({ auth: 'basic', users: { u: 'p' } });
    const bearer = await start({ auth: 'bearer', users: { u: 'p' } });
    const client = new RegistryClient();
    await client.login(basic.host, 'u', 'p');
    await client.login(bearer.host, 'u', 'p');
    expect((await failure(client.login(basic.host, 'u', 'x'))).code).toBe('Unauthorized');
    const r = await failure(client.login(bearer.host, 'u', 'x'));
    expect(r.code).toBe('Unauthorized');
    expect(r.message).toContain(`credentials rejected by ${bearer.host}`);
  });
});

describe('RegistryClient push', () => {
  it('uploads small blobs in one PUT, large ones in PATCH chunks with Content-Range, then the manifest', async () => {
    const reg = await start({ auth: 'bearer', users: { u: 'p' } });
    const creds = new MemoryCredentialStore();
    await creds.set(reg.host, 'u', 'p');
    const client = new RegistryClient({ credentials: creds, chunkSize: 100 });
    const repo = { domain: reg.host, path: 'team/pushed' };

    const small = Buffer.from('tiny config');
    const smallDesc = { digest: sha256Digest(small), size: small.length };
    const r1 = await client.pushBlob(repo, smallDesc, () => Readable.from([small]));
    expect(r1.status).toBe('uploaded');
    expect(reg.getBlob(smallDesc.digest)?.equals(small)).toBe(true);

    const big = Buffer.alloc(250);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const bigDesc = { digest: sha256Digest(big), size: big.length };
    const progress: number[] = [];
    // the source delivers odd-sized pieces; chunks must still be exactly 100, 100, 50
    const pieces = [big.subarray(0, 33), big.subarray(33, 170), big.subarray(170)];
    const r2 = await client.pushBlob(repo, bigDesc, () => Readable.from(pieces), { onProgress: (d) => progress.push(d) });
    expect(r2.status).toBe('uploaded');
    expect(reg.getBlob(bigDesc.digest)?.equals(big)).toBe(true);
    const patches = reg.requests.filter((q) => q.method === 'PATCH');
    expect(patches.map((q) => q.headers['content-range'])).toEqual(['0-99', '100-199', '200-249']);
    expect(progress).toEqual([100, 200, 250]);
    const finalPut = reg.requests.filter((q) => q.method === 'PUT').at(-1)!;
    expect(finalPut.query.get('digest')).toBe(bigDesc.digest);

    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.OCI_MANIFEST, config: { mediaType: mt.OCI_CONFIG, ...smallDesc }, layers: [] }));
    const digest = await client.pushManifest(repo, 'v1', mt.OCI_MANIFEST, manifest);
    expect(digest).toBe(sha256Digest(manifest));
    expect(reg.getManifest('team/pushed', 'v1')?.bytes.equals(manifest)).toBe(true);
  });

  it('skips the upload when HEAD finds the blob', async () => {
    const reg = await start();
    const blob = reg.putBlob('r', 'already here');
    const client = new RegistryClient();
    let opened = false;
    const res = await client.pushBlob({ domain: reg.host, path: 'r' }, blob, () => {
      opened = true;
      return Readable.from([]);
    });
    expect(res.status).toBe('exists');
    expect(opened).toBe(false);
    expect(reg.requests.map((q) => q.method)).toEqual(['HEAD']);
  });

  it('mounts from another repository when asked', async () => {
    const reg = await start();
    const blob = reg.putBlob('src/repo', 'shared layer');
    const res = await new RegistryClient().pushBlob({ domain: reg.host, path: 'dst/repo' }, blob, () => Readable.from([]), { mountFrom: 'src/repo' });
    expect(res.status).toBe('mounted');
    expect(reg.hasBlob('dst/repo', blob.digest)).toBe(true);
  });

  it('handles absolute upload Locations', async () => {
    const reg = await start({ absoluteLocations: true });
    const data = Buffer.from('abs');
    const d = { digest: sha256Digest(data), size: data.length };
    await new RegistryClient({ chunkSize: 2 }).pushBlob({ domain: reg.host, path: 'x' }, d, () => Readable.from([data]));
    expect(reg.getBlob(d.digest)?.equals(data)).toBe(true);
  });

  it('refuses to push content that does not match its descriptor (DataLoss), monolithic and chunked', async () => {
    const reg = await start();
    const client = new RegistryClient();
    const desc = { digest: sha256Digest('expected'), size: 8 };
    const a = await failure(client.pushBlob({ domain: reg.host, path: 'x' }, desc, () => Readable.from([Buffer.from('tampered')])));
    expect(a.code).toBe('DataLoss');
    const b = await failure(client.pushBlob({ domain: reg.host, path: 'x' }, desc, () => Readable.from([Buffer.from('tampered')]), { chunkSize: 3 }));
    expect(b.code).toBe('DataLoss');
    expect(reg.getBlob(desc.digest)).toBeUndefined();
  });
});

describe('scheme choice', () => {
  it('speaks HTTPS to a registry that is not loopback nor insecure, and fails clearly against plain HTTP', async () => {
    const reg = await start();
    seedImage(reg, 'x', 't');
    const port = reg.host.split(':')[1]!;
    // "registry.test" resolves (via a custom lookup) to the plain-HTTP fake: TLS must fail.
    const { Agent } = await import('undici');
    const dispatcher = new Agent({
      connect: {
        lookup: (_h: string, o: unknown, cb: (e: Error | null, a: string | Array<{ address: string; family: number }>, f?: number) => void) => {
          if ((o as { all?: boolean }).all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
          else cb(null, '127.0.0.1', 4);
        },
      } as never,
    });
    try {
      const r = await failure(new RegistryClient({ dispatcher }).resolve(parseReference(`registry.test:${port}/x:t`)));
      expect(r.code).toBe('Unavailable');
      expect(r.message).toContain(`registry.test:${port} (https)`);
      expect(reg.requests.filter((q) => q.method === 'GET')).toHaveLength(0);
      // listed as insecure, the same host is spoken to in plain HTTP
      const ok = await new RegistryClient({ dispatcher, insecureRegistries: [`registry.test:${port}`] }).resolve(parseReference(`registry.test:${port}/x:t`));
      expect(ok.descriptor.mediaType).toBe(mt.OCI_MANIFEST);
    } finally {
      await dispatcher.close();
    }
  });
});
