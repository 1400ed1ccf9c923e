import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors } from '../../api/index.js';
import { buildEngineApp, listenOnSocket, type EngineServer } from '../../agent/index.js';
import type { ImageApi } from '../../runtime/index.js';
import type { ImageInspect } from '../../api/index.js';
import { runCtl, type CtlRun } from '../test-helpers.js';

const id = 'sha256:' + '1'.repeat(64);
const calls: string[] = [];
const fake: ImageApi = {
  list: async () => [
    { Id: id, RepoTags: ['busybox:latest', 'localhost:5000/bb:1'], RepoDigests: [], Created: new Date().toISOString(), Size: 1_234_567 },
  ],
  inspect: async (ref) => {
    if (ref !== 'busybox') throw errors.notFound(`no such image: ${ref}`);
    return { Id: id } as ImageInspect;
  },
  pull: async (ref, o) => {
    o?.onProgress?.({ id: 'aaaaaaaaaaaa', status: 'downloading', current: 5, total: 10 });
    o?.onProgress?.({ id: 'aaaaaaaaaaaa', status: 'downloading', current: 10, total: 10 });
    o?.onProgress?.({ id: 'aaaaaaaaaaaa', status: 'done' });
    return { ref: `docker.io/library/${ref}:latest`, digest: 'sha256:' + 'd'.repeat(64), id };
  },
  push: async (ref) => ({ ref, digest: 'sha256:' + 'e'.repeat(64), id }),
  tag: async (s, t) => void calls.push(`tag ${s} ${t}`),
  remove: async (ref) => {
    if (ref === 'nope') throw errors.notFound('no such image: nope');
    return { untagged: [ref], deleted: [id] };
  },
  importTar: async (tar, ref) => {
    let n = 0;
    for await (const c of tar) n += (c as Buffer).length;
    calls.push(`import ${ref} ${n}`);
    return { ref, digest: id, id };
  },
  login: async (r, u, p) => void calls.push(`login ${r} ${u} ${p}`),
};

let dir: string;
let server: EngineServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoalctl-img-'));
  server = await listenOnSocket(await buildEngineApp({ images: fake, version: { Version: 't', ApiVersion: 'v1' } }), join(dir, 's.sock'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[], stdin = ''): Promise<CtlRun> {
  return runCtl(args, { env: { SHOAL_HOST: `unix://${join(dir, 's.sock')}` }, home: dir, stdin: Buffer.from(stdin) });
}

describe('shoalctl image commands', () => {
  it('pull prints the digest and reference; plain progress is one line per state change', async () => {
    const r = await run(['pull', '--progress', 'plain', 'busybox']);
    expect(r.out).toContain('Digest: sha256:' + 'd'.repeat(64));
    expect(r.out.trim().split('\n').at(-1)).toBe('docker.io/library/busybox:latest');
    expect(r.err.trim().split('\n')).toEqual(['aaaaaaaaaaaa: Downloading 5B/10B', 'aaaaaaaaaaaa: Pull complete']);
    expect((await run(['pull', 'busybox'])).err).toBe(''); // a pipe stays quiet
  });

  it('images: a table, ids, and an ImageList in json', async () => {
    const t = await run(['images']);
    expect(t.out.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(t.out).toMatch(/localhost:5000\/bb\s+1\s+111111111111\s+.*1\.23MB/);
    expect((await run(['images', '-q'])).out).toBe('111111111111\n');
    expect(JSON.parse((await run(['images', '-o', 'json'])).out)).toMatchObject({ kind: 'ImageList', items: [{ Id: id }] });
  });

  it('rmi goes on after a failure and sets the exit code; tag, push, login, import', async () => {
    const r = await run(['rmi', 'nope', 'busybox']);
    expect(r.err).toContain('error: NotFound: no such image: nope');
    expect(r.out).toBe(`Untagged: busybox\nDeleted: ${id}\n`);
    expect(r.code).toBe(1);
    await run(['tag', 'busybox', 'x:1']);
    expect((await run(['push', '-q', 'x:1'])).out).toBe('sha256:' + 'e'.repeat(64) + '\n');
    expect((await run(['login', 'reg:5000', '-u', 'u', '--password-stdin'], 'secret\n')).out).toBe('Login Succeeded\n');
    await writeFile(join(dir, 'root.tar'), Buffer.alloc(4096));
    expect((await run(['import', 'root.tar', 'mine:1'])).out).toBe(`${id}\n`);
    expect(calls).toEqual(['tag busybox x:1', 'login reg:5000 u secret', 'import mine:1 4096']);
    expect((await run(['login', 'reg'])).code).toBe(1);
  });

  it('inspect falls back from containers to images and names what is missing', async () => {
    expect(JSON.parse((await run(['inspect', 'busybox'])).out)).toEqual([{ Id: id }]);
    const r = await run(['inspect', 'ghost']);
    expect(r.err).toContain('no such container or image: ghost');
    expect(r.code).toBe(1);
  });

  it('says when the engine is not there', async () => {
    const r = await run(['--host', `unix://${join(dir, 'absent.sock')}`, 'images']);
    expect(r.err).toContain('is shoal-agent running?');
  });
});
