import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWwwAuthenticate } from './challenge.js';
import { FileCredentialStore, credentialKey } from './credentials.js';
import { registryEndpoint } from './endpoint.js';
import { describeAnswer, registryError } from './errors.js';

describe('registryEndpoint: scheme choice', () => {
  it.each([
    ['docker.io', [], 'https://registry-1.docker.io'],
    ['index.docker.io', [], 'https://registry-1.docker.io'],
    ['quay.io', [], 'https://quay.io'],
    ['registry.example.com:5000', [], 'https://registry.example.com:5000'],
    ['localhost', [], 'http://localhost'],
    ['localhost:5000', [], 'http://localhost:5000'],
    ['127.0.0.1:5001', [], 'http://127.0.0.1:5001'],
    ['127.1.2.3:80', [], 'http://127.1.2.3:80'],
    ['[::1]:5000', [], 'http://[::1]:5000'],
    ['10.0.0.5:5000', [], 'https://10.0.0.5:5000'],
    ['10.0.0.5:5000', ['10.0.0.5:5000'], 'http://10.0.0.5:5000'],
    ['10.0.0.5:5000', ['10.0.0.5:5001'], 'https://10.0.0.5:5000'],
    ['reg.lan:5000', ['reg.lan'], 'http://reg.lan:5000'],
    ['reg.lan:5000', ['http://REG.lan:5000/'], 'http://reg.lan:5000'],
    ['127.0.0.1.nip.io', [], 'https://127.0.0.1.nip.io'],
    ['localhost.example', [], 'https://localhost.example'],
  ] as const)('%s (insecure %j) -> %s', (domain, insecure, base) => {
    expect(registryEndpoint(domain, insecure).baseUrl).toBe(base);
  });
});

describe('parseWwwAuthenticate', () => {
  it('parses bearer with quoted commas and escapes', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="a,b",scope="repository:x/y:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'a,b', scope: 'repository:x/y:pull,push' } },
    ]);
    expect(parseWwwAuthenticate('Basic realm="say \\"hi\\""')).toEqual([{ scheme: 'basic', params: { realm: 'say "hi"' } }]);
  });
  it('parses several challenges, tokens without quotes, and odd spacing', () => {
    expect(parseWwwAuthenticate('Basic realm="r1", Bearer realm=https://t/x , error=invalid_token,  Negotiate')).toEqual([
      { scheme: 'basic', params: { realm: 'r1' } },
      { scheme: 'bearer', params: { realm: 'https://t/x', error: 'invalid_token' } },
      { scheme: 'negotiate', params: {} },
    ]);
    expect(parseWwwAuthenticate(['Basic realm="a"', 'Bearer realm="b"']).map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});

describe('registry errors', () => {
  it('keeps the distribution error messages and maps statuses', () => {
    const body = JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }, { code: 'X', message: '' }] });
    expect(describeAnswer(404, body)).toBe('manifest unknown; X');
    expect(describeAnswer(502, '<html>bad gateway</html>')).toBe('HTTP 502: <html>bad gateway</html>');
    expect(registryError(404, body, 'manifest for a/b:c')).toMatchObject({ code: 'NotFound', message: 'manifest for a/b:c not found: manifest unknown; X' });
    expect(registryError(503, '', 'x').code).toBe('Upstream');
    expect(registryError(500, '', 'x').message).toMatch(/HTTP 500/);
    expect(registryError(403, '', 'x').code).toBe('PermissionDenied');
    expect(registryError(429, '', 'x', '7')).toMatchObject({ code: 'Unavailable', retryAfterSeconds: 7 });
  });
});

describe('FileCredentialStore', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('writes Docker-style auths atomically with mode 0600 and keeps other keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-creds-'));
    dirs.push(dir);
    const path = join(dir, 'sub', 'credentials.json');
    const store = new FileCredentialStore(path);
    expect(await store.get('127.0.0.1:5001')).toBeUndefined();
    await store.set('127.0.0.1:5001', 'alice', 'p:a:ss');
    await store.set('https://index.docker.io/v1/', 'bob', 'x');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(await readFile(path, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(doc.auths['127.0.0.1:5001']?.auth).toBe(Buffer.from('alice:p:a:ss').toString('base64'));
    expect(Object.keys(doc.auths)).toEqual(['127.0.0.1:5001', 'docker.io']);
    expect(await store.get('127.0.0.1:5001')).toEqual({ username: 'alice', password: 'p:a:ss' });
    expect(await store.get('docker.io')).toEqual({ username: 'bob', password: 'x' });

    await writeFile(path, JSON.stringify({ ...doc, credsStore: 'keep-me' }), { mode: 0o644 });
    expect(await store.remove('docker.io')).toBe(true);
    expect(await store.remove('docker.io')).toBe(false);
    const after = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(after.credsStore).toBe('keep-me');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('says which file is broken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-creds-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.json');
    await writeFile(path, '{nope');
    await expect(new FileCredentialStore(path).get('x')).rejects.toThrow(path);
    await expect(new FileCredentialStore(path).set('x', 'a:b', 'c')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('normalises keys', () => {
    expect(credentialKey('https://registry-1.docker.io/v2/')).toBe('docker.io');
    expect(credentialKey('LOCALHOST:5000')).toBe('localhost:5000');
  });
});
