/**
 * Images end to end: a real docker-registry on a loopback port, a real shoal-agent from dist/,
 * driven with dist/shoalctl.js. Needs root (overlay whiteouts are 0:0 device nodes) and
 * `make build`.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile, copyFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  builtCommandsPresent,
  registryAvailable,
  run,
  startRegistry,
  startTestAgent,
  TempDirs,
  type TestAgent,
  type TestRegistry,
} from './harness/index.js';

const isRoot = process.getuid?.() === 0;
const canRun = isRoot && registryAvailable() && builtCommandsPresent() && existsSync('/bin/busybox');
const why = !isRoot ? 'needs root' : !registryAvailable() ? 'docker-registry is not installed' : !builtCommandsPresent() ? 'run `make build` first' : 'needs /bin/busybox';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const DIGEST = /sha256:[0-9a-f]{64}/;

interface Entry {
  name: string;
  type?: 'file' | 'directory';
  content?: string;
}

async function makeTar(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const e of entries) {
    if (e.type === 'directory') p.entry({ name: e.name, type: 'directory', mode: 0o755 });
    else p.entry({ name: e.name, mode: 0o644 }, e.content ?? '');
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Pushes blobs and a manifest straight over the distribution API (monolithic uploads). */
async function pushRaw(reg: TestRegistry, repo: string, tag: string, layers: Buffer[]): Promise<{ manifestDigest: string; diffIds: string[] }> {
  const put = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha(bytes);
    const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(202);
    const loc = new URL(start.headers.get('location') ?? '', reg.url);
    loc.searchParams.set('digest', digest);
    const r = await fetch(loc, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(201);
    return { digest, size: bytes.length };
  };
  const gz = layers.map((l) => gzipSync(l));
  const descs = [];
  for (const g of gz) descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(g)) });
  const diffIds = layers.map(sha);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const c = await put(config);
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c }, layers: descs });
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  expect(r.status).toBe(201);
  return { manifestDigest: sha(manifest), diffIds };
}

async function blobsOf(agent: TestAgent): Promise<string[]> {
  return (await readdir(join(agent.dataDir, 'content/blobs/sha256')).catch(() => [] as string[])).sort();
}
async function snapshotsOf(agent: TestAgent): Promise<string[]> {
  return (await readdir(join(agent.dataDir, 'snapshots')).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
}

describe.skipIf(!canRun)(`images e2e${canRun ? '' : ` (skipped: ${why})`}`, () => {
  const tmp = new TempDirs();
  let reg: TestRegistry;
  let agent: TestAgent;
  let rootfsTar: string;

  beforeAll(async () => {
    reg = await startRegistry();
    agent = await startTestAgent();
    // A busybox root filesystem: the static binary, a few applet links, /etc/passwd.
    const dir = await tmp.make('shoal-rootfs-');
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'etc'), { recursive: true });
    await copyFile('/bin/busybox', join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    for (const a of ['sh', 'ls', 'cat', 'echo', 'true']) await symlink('busybox', join(root, 'bin', a));
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    rootfsTar = join(dir, 'rootfs.tar');
    execFileSync('tar', ['-C', root, '-cf', rootfsTar, '.']);
  });

  afterAll(async () => {
    await agent?.stop();
    await reg?.stop();
    await tmp.cleanup();
  });

  it('imports a busybox rootfs, pushes it, removes it, and pulls back the same digest', async () => {
    const ref = `${reg.host}/lib/busybox:1.0`;
    const imp = await agent.ctl(['import', rootfsTar, ref]);
    expect(imp.stderr).toBe('');
    expect(imp.code).toBe(0);
    const id = imp.stdout.trim();
    expect(id).toMatch(DIGEST);

    const images = JSON.parse((await agent.ctl(['images', '-o', 'json'])).stdout);
    expect(images.items.map((i: { RepoTags: string[] }) => i.RepoTags).flat()).toContain(ref);

    const push = await agent.ctl(['push', ref]);
    expect(push.code, push.stderr).toBe(0);
    const pushed = push.stdout.match(DIGEST)?.[0];
    expect(pushed).toBeDefined();
    const inspect = JSON.parse((await agent.ctl(['inspect', '--type', 'image', ref])).stdout)[0];
    expect(inspect.Manifest.Digest).toBe(pushed);

    const rmi = await agent.ctl(['rmi', ref]);
    expect(rmi.code, rmi.stderr).toBe(0);
    expect(rmi.stdout).toContain(`Deleted: ${id}`);
    expect((await agent.ctl(['images', '-q'])).stdout).toBe('');
    expect(await blobsOf(agent)).toEqual([]);
    expect(await snapshotsOf(agent)).toEqual([]);

    const pull = await agent.ctl(['pull', ref]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout).toContain(`Digest: ${pushed}`);
    const back = JSON.parse((await agent.ctl(['inspect', '--type', 'image', ref])).stdout)[0];
    expect(back.Id).toBe(id);
    const lower = back.GraphDriver.Data.LowerDirs[0] as string;
    expect((await stat(join(lower, 'bin/busybox'))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(lower, 'etc/passwd'), 'utf8')).toContain('root:x:0:0');
  });

  it('applies a whiteout and an opaque directory from a second layer', async () => {
    const l1 = await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/gone', content: 'delete me' },
      { name: 'etc/kept', content: 'kept' },
      { name: 'data/', type: 'directory' },
      { name: 'data/old1', content: 'old' },
      { name: 'data/old2', content: 'old' },
    ]);
    const l2 = await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.gone' },
      { name: 'data/', type: 'directory' },
      { name: 'data/.wh..wh..opq' },
      { name: 'data/new', content: 'new' },
    ]);
    const ref = `${reg.host}/test/layers:2`;
    await pushRaw(reg, 'test/layers', '2', [l1, l2]);
    const pull = await agent.ctl(['pull', ref]);
    expect(pull.code, pull.stderr).toBe(0);
    const info = JSON.parse((await agent.ctl(['inspect', '--type', 'image', ref])).stdout)[0];
    const [top, bottom] = info.GraphDriver.Data.LowerDirs as [string, string];
    // The snapshot of the top layer holds overlay whiteouts: a 0:0 char device and the opaque xattr.
    const wh = await stat(join(top, 'etc/gone'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(existsSync(join(top, 'data/.wh..wh..opq'))).toBe(false);
    expect(existsSync(join(bottom, 'etc/gone'))).toBe(true);
    // Mounted as overlayfs, the image shows the result a container would see.
    const mnt = await tmp.make('shoal-ovl-');
    const m = await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${top}:${bottom}`, mnt]);
    expect(m.code, m.stderr).toBe(0);
    try {
      expect((await readdir(join(mnt, 'etc'))).sort()).toEqual(['kept']);
      expect((await readdir(join(mnt, 'data'))).sort()).toEqual(['new']);
    } finally {
      await run('umount', [mnt]);
    }
  });

  it('names the image and the registry answer when a tag does not exist', async () => {
    const r = await agent.ctl(['pull', `${reg.host}/lib/busybox:no-such-tag`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/NotFound/);
    expect(r.stderr).toContain('lib/busybox');
    expect(r.stderr.toLowerCase()).toMatch(/manifest unknown|no-such-tag/);
  });

  it('fails a pull whose blob does not match its digest and leaves nothing behind', async () => {
    const layer = await makeTar([{ name: 'file', content: 'x'.repeat(10_000) }]);
    const other = await makeTar([{ name: 'other', content: 'y'.repeat(5_000) }]);
    await pushRaw(reg, 'test/corrupt', 'v1', [other, layer]);
    const gz = gzipSync(layer);
    // Same length, different bytes: only the digest check can catch it.
    const bad = Buffer.from(gz);
    bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 0xff;
    await writeFile(reg.blobPath(sha(gz)), bad);
    const blobsBefore = await blobsOf(agent);
    const snapsBefore = await snapshotsOf(agent);
    const imagesBefore = (await agent.ctl(['images', '-q'])).stdout;
    const r = await agent.ctl(['pull', `${reg.host}/test/corrupt:v1`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/DataLoss/);
    expect(r.stderr).toContain(sha(gz));
    expect(await blobsOf(agent)).toEqual(blobsBefore);
    expect(await snapshotsOf(agent)).toEqual(snapsBefore);
    expect((await agent.ctl(['images', '-q'])).stdout).toBe(imagesBefore);
    expect(await readdir(join(agent.dataDir, 'content/ingest')).catch(() => [])).toEqual([]);
  });

  describe('a registry with htpasswd basic auth', () => {
    let secure: TestRegistry;
    let other: TestAgent;
    beforeAll(async () => {
      secure = await startRegistry({ auth: { user: 'alice', password: 's3cret' } });
      other = await startTestAgent();
    });
    afterAll(async () => {
      await other?.stop();
      await secure?.stop();
    });

    it('refuses without credentials with a clear error, and works after login', async () => {
      const ref = `${secure.host}/team/bb:1`;
      expect((await agent.ctl(['import', rootfsTar, ref])).code).toBe(0);
      const denied = await agent.ctl(['push', ref]);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/Unauthorized/);

      const wrong = await agent.ctl(['login', secure.host, '-u', 'alice', '--password-stdin'], { input: 'nope\n' });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/Unauthorized/);
      const login = await agent.ctl(['login', secure.host, '-u', 'alice', '--password-stdin'], { input: 's3cret\n' });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toContain('Login Succeeded');
      expect((await stat(agent.credentials)).mode & 0o777).toBe(0o600);
      const push = await agent.ctl(['push', ref]);
      expect(push.code, push.stderr).toBe(0);

      // Another agent, no credentials: a clear failure, then login and pull.
      const anon = await other.ctl(['pull', ref]);
      expect(anon.code).not.toBe(0);
      expect(anon.stderr).toMatch(/Unauthorized/);
      expect(anon.stderr).toContain(secure.host);
      expect((await other.ctl(['login', secure.host, '-u', 'alice', '-p', 's3cret'])).code).toBe(0);
      const ok = await other.ctl(['pull', ref]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(push.stdout.match(DIGEST)?.[0]);
    });
  });
});
